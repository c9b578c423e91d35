"""The access log without secrets in query strings.

Tokens belong in the Authorization header (never logged), but a client may still put one in a
URL (`?token=...`, a pasted link). uvicorn's access log writes the path with its query string,
so `hpo serve` attaches `RedactSecrets` to the access handler: the value of every query key
that looks like a secret becomes REDACTED; other keys (`?k=10&state=failed`) stay readable.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

# A key "looks like a secret" when it contains one of these, in any case: token, access_token,
# api_key, apikey, client_secret, password, passwd, auth, authorization, session, signature...
SECRET_KEY = re.compile(
    r"token|key|secret|passw|pwd|auth|session|cookie|sig|credential|bearer|jwt", re.IGNORECASE
)
REDACTED = "REDACTED"


def redact_query(target: str) -> str:
    """`/x?token=abc&k=3` -> `/x?token=REDACTED&k=3`; a target without a query is unchanged."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    fragment = ""
    if "#" in query:
        query, _, rest = query.partition("#")
        fragment = "#" + rest
    parts = []
    for part in query.split("&"):
        key, eq, _value = part.partition("=")
        if eq and SECRET_KEY.search(unquote_plus(key)):
            part = f"{key}={REDACTED}"
        parts.append(part)
    return f"{path}?{'&'.join(parts)}{fragment}"


class RedactSecrets(logging.Filter):
    """For uvicorn's access records: args are (client, method, path?query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration with `RedactSecrets` on its access handler."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    config["handlers"]["access"].setdefault("filters", []).append("redact_secrets")
    return config
