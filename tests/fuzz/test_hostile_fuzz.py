"""Hostile fuzzing of a real `hpo serve` (admin, worker and read tokens set), on SQLite and on
PostgreSQL: every operation of the OpenAPI schema, with schemathesis' requests and, as often,
valid requests built from live state (real study and trial ids, real lease tokens harvested
from the answers), then mutated by tests/fuzz/_hostile.py: non-ASCII, NUL and over-long
strings in every string field, path and query parameter and the Authorization header, hostile
numbers, and deeply nested JSON in every object. Promise: no 5xx and no dropped connection,
and afterwards every study, its trials and its leaderboard still read (200).

Every 5xx is collected with its request and answer, so one run reports all of them.
Size: `HPO_FUZZ_EXAMPLES` examples per operation (CI default 10: 280 requests per database,
about 40 s for both here); `HPO_FUZZ_SEED` fixes Hypothesis' seed instead of its derandomized
default (the long run of bench/fragments/fuzz-long.md uses several).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.fuzz import _hostile
from tests.fuzz._server import TOKENS, FuzzServer, hostile_server

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EXAMPLES = int(os.environ.get("HPO_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("HPO_FUZZ_SEED")
TIMEOUT_S = 60.0


@dataclass
class Finding:
    request: str
    answer: str
    count: int = 1


@dataclass
class FuzzState:
    """What the fuzzer learned from the answers, to send requests the handlers act on."""

    server: FuzzServer
    leases: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[str, Finding] = field(default_factory=dict)
    requests: int = 0

    def harvest(self, answer: Any) -> None:
        if isinstance(answer, dict):
            if isinstance(answer.get("lease_token"), str) and "trial_id" in answer:
                self.leases = [*self.leases[-49:], answer]
            for key in ("next", "lease"):
                self.harvest(answer.get(key))


def _template(path: str, method: str, state: FuzzState, data: st.DataObject) -> Any:
    """A valid request for the operation (path parameters, body), or None: the starting point
    the mutations spoil, so a request gets past the schema into the code behind it."""
    lease = data.draw(st.sampled_from(state.leases)) if state.leases else None
    token = lease["lease_token"] if lease else "no-lease"
    trial = {"trial_id": lease["trial_id"] if lease else 1}
    study = {"study_id": data.draw(st.sampled_from(state.server.study_ids))}
    worker = {"worker_id": "fuzz-worker", "host": "fuzz-host", "devices": ["cpu"]}
    bodies: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {
        ("POST", "/api/v1/studies"): ({}, state.server.spec(data.draw(st.integers(0, 3)))),
        ("PATCH", "/api/v1/studies/{study_id}"): (study, {"n_trials": 60}),
        ("POST", "/api/v1/studies/{study_id}/trials"): (study, {"params": {"lr": 0.01}}),
        ("POST", "/api/v1/studies/{study_id}/ask"): (study, {"lease_seconds": 600}),
        ("POST", "/api/v1/workers/claim"): ({}, worker),
        ("POST", "/api/v1/trials/{trial_id}/heartbeat"): (trial, {"lease_token": token}),
        ("POST", "/api/v1/trials/{trial_id}/reports"): (
            trial,
            {"lease_token": token, "step": 1, "value": 0.5},
        ),
        ("POST", "/api/v1/trials/{trial_id}/complete"): (
            trial,
            {"lease_token": token, "value": 0.5, "metrics": {"val_accuracy": 0.5}},
        ),
        ("POST", "/api/v1/trials/{trial_id}/complete-and-claim"): (
            trial,
            {"lease_token": token, "value": 0.5, "metrics": {"m": 1}, **worker},
        ),
        ("POST", "/api/v1/trials/{trial_id}/fail"): (
            trial,
            {"lease_token": token, "failure_class": "user", "message": "boom"},
        ),
        ("POST", "/api/v1/trials/{trial_id}/tell"): (
            trial,
            {"lease_token": token, "value": 0.5, "metrics": {"m": 1}},
        ),
        ("POST", "/api/v1/comparisons"): ({}, state.server.comparison_spec()),
    }
    return bodies.get((method, path))


def _known_ids(params: dict[str, Any], state: FuzzState, data: st.DataObject) -> dict[str, Any]:
    """Path ids mostly replaced by existing ones (else every request is a 404)."""
    out = dict(params)
    for name in out:
        if name == "study_id":
            out[name] = data.draw(st.sampled_from(state.server.study_ids))
        elif name == "trial_id" and state.leases:
            out[name] = data.draw(st.sampled_from(state.leases))["trial_id"]
        elif name == "comparison_id":
            out[name] = 1
    return out


# A path or query value is cut here: the HTTP client refuses URLs past 64 KiB (and servers
# their request line far earlier; that answer is uvicorn's, not ours).
URL_PART_MAX = 4_000


def _quote(value: Any) -> str:
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")[:URL_PART_MAX]


def _encode(body: Any, ascii_only: bool) -> bytes:
    text = json.dumps(body, ensure_ascii=ascii_only)  # NaN and Infinity included, on purpose
    return text.encode("utf-8", "surrogatepass")


def _send(state: FuzzState, case: Any, data: st.DataObject) -> None:
    method, path = case.method.upper(), case.operation.path
    template = _template(path, method, state, data) if data.draw(st.booleans()) else None
    params, body = template if template else (case.path_parameters or {}, case.body)
    if not template and data.draw(st.floats(0, 1)) < 0.7:
        params = _known_ids(params, state, data)
    params = _hostile.mutate(params, data, rate=0.15)
    query = _hostile.mutate(dict(case.query or {}), data, rate=0.3)
    has_body = body is not None and type(body).__name__ != "NotSet"
    if has_body:  # a light touch too, so some requests are valid but for one field
        body = _hostile.mutate(body, data, rate=data.draw(st.sampled_from([0.03, 0.1, 0.3])))
    url = state.server.url + path.format(**{k: _quote(v) for k, v in params.items()})
    if query:
        url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query.items())
    headers: dict[bytes, bytes] = {}
    auth = data.draw(_hostile.authorizations(TOKENS))
    if auth is not None:
        headers[b"authorization"] = auth
    content = None
    if has_body:
        content = _encode(body, ascii_only=data.draw(st.booleans()))
        headers[b"content-type"] = b"application/json"
    state.requests += 1
    summary = f"{method} {url[:300]} auth={(auth or b'')[:60]!r} body={(content or b'')[:400]!r}"
    try:
        answer = state.server.client.request(
            method, url, content=content, headers=headers, timeout=TIMEOUT_S
        )
    except httpx.LocalProtocolError:
        return  # refused by our own HTTP client: never reached the server
    except httpx.TransportError as e:  # a reset connection is as bad as a 500
        _record(state, f"{method} {path} {type(e).__name__}", summary, repr(e))
        return
    state.statuses[answer.status_code] += 1
    if answer.status_code >= 500:
        error = state.server.new_error()  # the server's traceback says which bug it was
        key = f"{method} {path} {answer.status_code} {error.split(':')[0]}"
        _record(state, key, summary, f"{answer.text[:200]} / server log: {error}")
        return
    with contextlib.suppress(ValueError):
        state.harvest(answer.json())


def _record(state: FuzzState, key: str, request: str, answer: str) -> None:
    if key in state.findings:
        state.findings[key].count += 1
    else:
        state.findings[key] = Finding(request, answer)


def _fuzz_operation(state: FuzzState, operation: Any) -> None:
    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        data=st.data(),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=SEED is None,
        database=None,
        phases=(Phase.explicit, Phase.generate),  # findings are collected, never shrunk
    )
    def fuzz(case: Any, data: st.DataObject) -> None:
        _send(state, case, data)

    if SEED is not None:
        fuzz = seed(int(SEED))(fuzz)
    fuzz()


def _read(server: FuzzServer, path: str, token: str | None) -> tuple[str, Any]:
    """(status or the transport error's name, the JSON answer or None)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        answer = server.client.get(path, headers=headers)
    except httpx.TransportError as e:
        return type(e).__name__, None
    ok = answer.status_code == 200 and "json" in answer.headers.get("content-type", "")
    return str(answer.status_code), answer.json() if ok else None


def _reads_answer(server: FuzzServer) -> list[str]:
    """Every study still reads, with its trials and leaderboard, for the admin and read
    tokens; the web index too. Returns what did not answer 200."""
    broken = []
    for token in (TOKENS["admin"], TOKENS["read"]):
        status, listing = _read(server, "/api/v1/studies?limit=1000", token)
        if status != "200":
            broken.append(f"GET /api/v1/studies: {status}")
        ids = [s["id"] for s in listing or []] or server.study_ids
        for sid in ids:
            for path in (f"/{sid}", f"/{sid}/trials", f"/{sid}/leaderboard"):
                status, _ = _read(server, f"/api/v1/studies{path}", token)
                if status not in ("200", "404"):  # 404: the fuzzer deleted it
                    broken.append(f"GET /api/v1/studies{path}: {status}")
    status, _ = _read(server, "/", None)
    if status != "200":
        broken.append(f"GET /: {status}")
    return broken


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FuzzServer]:
    with hostile_server(request.param, tmp_path) as served:
        yield served


def test_hostile_input_never_breaks_the_server(server: FuzzServer) -> None:
    state = FuzzState(server)
    state.leases = list(server.leases)
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    started = time.monotonic()
    for result in schema.get_all_operations():
        _fuzz_operation(state, result.ok())  # type: ignore[union-attr]
    elapsed = time.monotonic() - started
    counted = server.requests_counted()
    print(
        f"\nhostile fuzz on {server.backend}: {state.requests} requests in {elapsed:.1f} s "
        f"(server counted {counted}), seed {SEED or 'derandomized'}, "
        f"statuses {dict(sorted(state.statuses.items()))}"
    )
    broken = _reads_answer(server)
    report = "\n\n".join(
        f"{key} (x{f.count}):\n  request: {f.request}\n  answer: {f.answer}"
        for key, f in state.findings.items()
    )
    assert not state.findings and not broken, (
        f"{len(state.findings)} kinds of server error:\n{report}\n\n"
        "reads after the fuzzing:\n" + ("\n".join(broken) or "all 200")
    )
