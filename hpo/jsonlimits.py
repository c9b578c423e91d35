"""One bounded validator for every free-form JSON value a client sends (metrics, params,
fixed, sampler and pruner options, the search space, enqueued configurations).

Free-form fields take "any JSON", and any JSON includes values that break the server later:
300 nested lists stored in a trial's metrics made every read of its study fail (the JSON
column and the response encoder recurse), NaN has no JSON spelling, a NUL cannot be stored
in PostgreSQL text, a lone surrogate (JSON's `\\ud800`) cannot be encoded at all. Each such
field carries `JSON_LIMITS` (a pydantic validator, in an `Annotated` type), so the whole family
is refused with a 422 naming the field and the limit, before anything is stored:

    metrics: BoundedJsonObject = Field(default_factory=dict)
    fixed: Annotated[dict[str, Scalar], JSON_LIMITS] = Field(default_factory=dict)

The walk is iterative (no recursion, whatever the depth) and stops at the first problem.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import BeforeValidator

# Deep enough for any real config or metrics dict, far below Python's recursion limit.
MAX_DEPTH = 32
# Values (containers, keys' values and list items) in one field.
MAX_VALUES = 20_000
# Characters in one string or key.
MAX_STRING = 10_000
# The field's size as compact JSON.
MAX_BYTES = 512 * 1024
# Integers beyond 64 bits do not fit the databases' JSON numbers or numpy.
MAX_INT = 2**63 - 1


class JsonLimitError(ValueError):
    """Why a value was refused; the message names the place inside the field and the limit."""


def _where(path: tuple[str | int, ...]) -> str:
    # Deep paths are shortened: the message is for a person, the depth is in the text.
    parts = [f"[{p}]" if isinstance(p, int) else f".{_printable(p[:40])}" for p in path[:6]]
    text = "".join(parts).lstrip(".")
    return (text + ("..." if len(path) > 6 else "")) or "the value"


def _printable(text: str) -> str:
    """`text` with what UTF-8 cannot encode (lone surrogates) spelled as escapes, so the
    message that names it can itself be sent."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_string(text: str, path: tuple[str | int, ...], what: str) -> None:
    if len(text) > MAX_STRING:
        raise JsonLimitError(
            f"{what} at {_where(path)} is {len(text)} characters long: at most {MAX_STRING}"
        )
    if "\x00" in text:
        raise JsonLimitError(f"{what} at {_where(path)} contains a NUL character (\\u0000)")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            # JSON's \ud800 escape decodes to a lone surrogate, which no database column or
            # response can encode: stored, it breaks every read of the study.
            bad = f"\\u{ord(text[e.start]):04x}"
            raise JsonLimitError(
                f"{what} at {_where(path)} holds a lone surrogate ({bad}), which is not text: "
                "send valid Unicode"
            ) from None


def check_json(value: Any) -> Any:
    """Return `value` unchanged, or raise JsonLimitError (a ValueError: pydantic reports it
    under the field's name) for the first limit it breaks."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    count = 0
    while stack:
        item, path = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise JsonLimitError(f"holds more than {MAX_VALUES} values: send less")
        if len(path) > MAX_DEPTH:
            raise JsonLimitError(
                f"is nested deeper than {MAX_DEPTH} levels (at {_where(path)}): flatten it"
            )
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise JsonLimitError(
                    f"{_where(path)} is {item}: send finite numbers only (or null)"
                )
        elif isinstance(item, int):
            if abs(item) > MAX_INT:
                raise JsonLimitError(f"{_where(path)} is an integer beyond 64 bits")
        elif isinstance(item, str):
            _check_string(item, path, "the string")
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    _check_string(key, (*path, key), "the key")
                stack.append((child, (*path, str(key))))
        elif isinstance(item, list | tuple):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))
        # Anything else (a YAML date) is left to the field's own type to accept or refuse.
    size = len(json.dumps(value, separators=(",", ":"), default=str).encode())
    if size > MAX_BYTES:
        raise JsonLimitError(f"is {size} bytes as JSON: at most {MAX_BYTES}")
    return value


def _validate(value: Any) -> Any:
    try:
        return check_json(value)
    except JsonLimitError as e:
        # pydantic turns ValueError into a 422 item whose location is the field.
        raise ValueError(str(e)) from None


# The bounded free-form types. The check runs before the field's own validation, on the
# raw input, so a hostile value never reaches anything that recurses.
JSON_LIMITS = BeforeValidator(_validate)
BoundedJson = Annotated[Any, JSON_LIMITS]
BoundedJsonObject = Annotated[dict[str, Any], JSON_LIMITS]
