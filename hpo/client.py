"""A typed HTTP client for the hpo API, used by the worker, the CLI and users.

For your own training code (ask/tell), with the study's client token (`hpo study create
--client-token`; it asks, tells, reports and heartbeats for that study only)::

    from hpo.client import Client

    client = Client("http://127.0.0.1:8000", token="hpoc_...")
    study = client.study(3)
    trial = study.ask()                      # params to try
    for epoch in range(10):
        acc = train_one_epoch(trial.params)
        if trial.report(epoch + 1, acc):     # True: the pruner stopped it
            break
    else:
        trial.tell(acc)

Answers come back as the frozen values of hpo.wire (`Lease`, `TrialView`, `StudyView`,
`BestConfig`, ...), the same types the service returns; comparisons stay plain JSON objects.

Network errors and 502/503/504 are retried with exponential backoff (the API may be
restarting), `retries` times or, with `retries=None` (the worker), until the API answers;
every other error raises `ApiError` carrying the server's message and status.

Several API replicas: `Client("http://api-1:8000,http://api-2:8000")` (`--api URL1,URL2`,
`HPO_API_URL` with commas) sends to one replica until it stops answering, then moves to the
next at once, without waiting; only when every replica failed in a row does it back off (and
an outage begins: hpo.outage). A 4xx is an answer, never a reason to move: another replica
would give the same one. So a replica's death costs a retry, not a trial.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from hpo.errors import HpoError
from hpo.outage import Outage
from hpo.wire import (
    BestConfig,
    CreatedStudy,
    Lease,
    StudyView,
    TrialPage,
    TrialView,
    WorkerView,
)

_RETRY_STATUS = frozenset({502, 503, 504})


class ApiError(HpoError):
    """The API refused a request; `status` is the HTTP status, the message its detail."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiUnreachable(HpoError):
    """The API did not answer after every retry."""


def api_urls(url: str) -> list[str]:
    """The replicas' base URLs in `url` (comma-separated, as `--api` takes them)."""
    urls = [part.strip().rstrip("/") for part in url.split(",") if part.strip()]
    if not urls:
        raise ValueError(f"no API URL in {url!r}: give --api http://HOST:PORT[,http://...]")
    return urls


@dataclass
class Client:
    """One connection pool per API replica (`url`: one URL, or several comma-separated; see
    the module's docstring for the failover). `retries` bounds the rounds of attempts of
    every request; None retries until an API answers (a worker: see hpo.outage), with
    `outage` (shared by the threads of one worker) saying so once a minute and giving up
    when told to."""

    url: str
    token: str | None = None
    timeout: float = 30.0
    retries: int | None = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 15.0
    outage: Outage | None = None
    urls: list[str] = field(init=False)
    _pools: list[httpx.Client] = field(init=False, repr=False)
    _current: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.urls = api_urls(self.url)
        self._pools = [
            httpx.Client(base_url=url, headers=headers, timeout=self.timeout) for url in self.urls
        ]

    @property
    def current_url(self) -> str:
        """The replica the next request goes to."""
        return self.urls[self._current]

    def close(self) -> None:
        for pool in self._pools:
            pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries on connection errors, timeouts and 502/503/504, moving to the
        next replica at once when there are several (a wait only after every one failed in
        a row). Raises ApiError for any other 4xx/5xx. Retrying a complete/report is safe:
        the API treats a repeat that already landed as a no-op."""
        delay = min(self.backoff_seconds, self.max_backoff_seconds)
        last: str = ""
        attempt = 0
        failed_in_a_row = 0
        while True:
            index = self._current
            try:
                response = self._pools[index].request(method, path, **kwargs)
            except httpx.TransportError as e:
                last = f"{self.urls[index]}: {type(e).__name__}: {e}"
            else:
                if response.status_code not in _RETRY_STATUS:
                    if self.outage is not None:
                        self.outage.answered()
                    if response.status_code >= 400:
                        raise ApiError(response.status_code, _detail(response))
                    return response
                last = f"{self.urls[index]}: HTTP {response.status_code}: {_detail(response)}"
            failed_in_a_row += 1
            # The next replica (threads share the client: move only from the one that failed).
            if self._current == index:
                self._current = (index + 1) % len(self.urls)
            if failed_in_a_row < len(self.urls):
                continue  # another replica has not been tried since the last answer
            failed_in_a_row = 0
            if self.outage is not None:
                self.outage.failed(self.url, f"{method} {path}: {last}")  # may give up
            if self.retries is not None and attempt >= self.retries:
                break
            attempt += 1
            time.sleep(delay * (0.5 + random.random()))  # jitter: workers don't stampede
            delay = min(delay * 2, self.max_backoff_seconds)
        raise ApiUnreachable(
            f"{method} {self.url} {path} failed after {attempt + 1} attempts ({last}); "
            "check that `hpo serve` is running and the URL is right"
        )

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # -- studies ---------------------------------------------------------------------------
    def create_study(self, spec: Mapping[str, Any]) -> CreatedStudy:
        return CreatedStudy.from_json(self._json("POST", "/api/v1/studies", json=dict(spec)))

    def list_studies(self, state: str | None = None, limit: int = 100) -> list[StudyView]:
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["state"] = state
        return [StudyView.from_json(s) for s in self._json("GET", "/api/v1/studies", params=params)]

    def get_study(self, study_id: int) -> StudyView:
        return StudyView.from_json(self._json("GET", f"/api/v1/studies/{study_id}"))

    def update_study(
        self,
        study_id: int,
        *,
        action: str | None = None,
        n_trials: int | None = None,
        budget: Mapping[str, float | None] | None = None,
    ) -> StudyView:
        """`budget`: max_seconds, max_trial_seconds, target to set (a number) or turn off
        (None); budgets not named are unchanged."""
        body: dict[str, Any] = {
            k: v for k, v in {"action": action, "n_trials": n_trials}.items() if v is not None
        }
        body.update(budget or {})
        return StudyView.from_json(self._json("PATCH", f"/api/v1/studies/{study_id}", json=body))

    def annotate_trial(
        self, trial_id: int, *, note: str | None = None, tags: list[str] | None = None
    ) -> TrialView:
        """Set a trial's note and/or tags (None: unchanged; "" or [] clears)."""
        body: dict[str, Any] = {}
        if note is not None:
            body["note"] = note
        if tags is not None:
            body["tags"] = list(tags)
        return TrialView.from_json(self._json("PATCH", f"/api/v1/trials/{trial_id}", json=body))

    def delete_study(self, study_id: int) -> None:
        self.request("DELETE", f"/api/v1/studies/{study_id}")

    def trials(
        self, study_id: int, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> TrialPage:
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if state:
            params["state"] = state
        page = self._json("GET", f"/api/v1/studies/{study_id}/trials", params=params)
        return TrialPage.from_json(page)

    def leaderboard(self, study_id: int, k: int = 10) -> list[TrialView]:
        rows = self._json("GET", f"/api/v1/studies/{study_id}/leaderboard", params={"k": k})
        return [TrialView.from_json(row) for row in rows]

    def best(self, study_id: int, pick: str | None = None) -> BestConfig:
        """The best trial; `pick` (the `hpo.pick` grammar) chooses among several objectives."""
        params = {"pick": pick} if pick is not None else {}
        return BestConfig.from_json(
            self._json("GET", f"/api/v1/studies/{study_id}/best", params=params)
        )

    def best_yaml(self, study_id: int, pick: str | None = None) -> str:
        params = {"format": "yaml"} | ({"pick": pick} if pick is not None else {})
        response = self.request("GET", f"/api/v1/studies/{study_id}/best", params=params)
        return response.text

    def pareto(self, study_id: int) -> list[TrialView]:
        """The non-dominated feasible completed trials, sorted by the first objective."""
        rows = self._json("GET", f"/api/v1/studies/{study_id}/pareto")
        return [TrialView.from_json(t) for t in rows]

    def enqueue(self, study_id: int, params: Mapping[str, Any]) -> TrialView:
        body = {"params": dict(params)}
        return TrialView.from_json(
            self._json("POST", f"/api/v1/studies/{study_id}/trials", json=body)
        )

    def study(self, study_id: int) -> StudyHandle:
        return StudyHandle(self, study_id)

    # -- comparisons -----------------------------------------------------------------------
    def create_comparison(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._json("POST", "/api/v1/comparisons", json=dict(spec)))

    def list_comparisons(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/v1/comparisons", params={"limit": limit}))

    def get_comparison(self, comparison_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/api/v1/comparisons/{comparison_id}"))

    def update_comparison(self, comparison_id: int, action: str) -> dict[str, Any]:
        body = {"action": action}
        return dict(self._json("PATCH", f"/api/v1/comparisons/{comparison_id}", json=body))

    def delete_comparison(self, comparison_id: int) -> None:
        self.request("DELETE", f"/api/v1/comparisons/{comparison_id}")

    def record_final(
        self, comparison_id: int, sampler: str, result: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Store the test metric of a sampler's winner after final training:
        {test_metric, test_metric_sd, metric, seeds, study_id, trial_id}."""
        path = f"/api/v1/comparisons/{comparison_id}/final/{sampler}"
        return dict(self._json("PUT", path, json=dict(result)))

    # -- worker protocol -------------------------------------------------------------------
    def claim(
        self,
        worker_id: str,
        host: str = "",
        devices: list[str] | None = None,
        wait_seconds: float = 0.0,
        pools: tuple[str, ...] | list[str] = ("default",),
        task_kinds: Sequence[str] = ("builtin",),
    ) -> Lease | None:
        """The next trial for `worker_id`, or None when there is no work right now. With
        `wait_seconds`, the API holds a claim that finds no work up to that long (long-poll,
        capped by the server) and answers as soon as a trial can be served. Only studies in
        one of `pools` are served; `task_kinds`: the kinds of study task this worker runs
        (builtin, command)."""
        body: dict[str, Any] = {
            "worker_id": worker_id,
            "host": host,
            "devices": devices or [],
            "pools": list(pools),
        }
        _add_task_kinds(body, task_kinds)
        kwargs: dict[str, Any] = {}
        if wait_seconds > 0:
            body["wait_seconds"] = wait_seconds
            # The read timeout must outlast the server's hold, or every idle claim times out.
            kwargs["timeout"] = httpx.Timeout(self.timeout, read=self.timeout + wait_seconds)
        response = self.request("POST", "/api/v1/workers/claim", json=body, **kwargs)
        return None if response.status_code == 204 else Lease.from_json(response.json())

    def heartbeat(self, trial_id: int, token: str) -> datetime:
        """Renew the lease; returns when it now expires."""
        body = {"lease_token": token}
        answer = self._json("POST", f"/api/v1/trials/{trial_id}/heartbeat", json=body)
        return datetime.fromisoformat(str(answer["lease_expires_at"]))

    def report(self, trial_id: int, token: str, step: int, value: float) -> bool:
        """One intermediate value; True when the pruner stopped the trial."""
        body = {"lease_token": token, "step": step, "value": value}
        answer = self._json("POST", f"/api/v1/trials/{trial_id}/reports", json=body)
        return bool(answer["should_prune"])

    def report_many(self, trial_id: int, token: str, reports: Sequence[tuple[int, float]]) -> bool:
        """Several intermediate values (step, value) in one request (at most
        MAX_REPORTS_PER_REQUEST), stored as that many `report`s in order; True when the
        pruner stopped the trial at one of them."""
        body = {"lease_token": token, "reports": _report_items(reports)}
        answer = self._json("POST", f"/api/v1/trials/{trial_id}/reports", json=body)
        return bool(answer["should_prune"])

    def complete(
        self,
        trial_id: int,
        token: str,
        value: float,
        metrics: Mapping[str, Any] | None = None,
        reports: Sequence[tuple[int, float]] = (),
    ) -> TrialView:
        """The final value; `reports`: the trial's last intermediate values, not sent yet,
        stored with it."""
        body: dict[str, Any] = {
            "lease_token": token,
            "value": value,
            "metrics": dict(metrics or {}),
        }
        if reports:
            body["reports"] = _report_items(reports)
        return TrialView.from_json(
            self._json("POST", f"/api/v1/trials/{trial_id}/complete", json=body)
        )

    def complete_and_claim(
        self,
        trial_id: int,
        token: str,
        value: float,
        metrics: Mapping[str, Any] | None,
        worker_id: str,
        host: str = "",
        devices: list[str] | None = None,
        pools: tuple[str, ...] | list[str] = ("default",),
        task_kinds: Sequence[str] = ("builtin",),
        *,
        reports: Sequence[tuple[int, float]] = (),
        wait_seconds: float = 0.0,
    ) -> tuple[TrialView, Lease | None]:
        """`complete`, then `claim` for `worker_id`, in one request: (the completed trial, the
        next lease or None when there is no work right now). Safe to retry like `complete`.
        `reports` as `complete`'s; `wait_seconds` as `claim`'s (the complete lands first,
        then the claim is held until work appears or the wait is over)."""
        body: dict[str, Any] = {
            "lease_token": token,
            "value": value,
            "metrics": dict(metrics or {}),
            "worker_id": worker_id,
            "host": host,
            "devices": devices or [],
            "pools": list(pools),
        }
        _add_task_kinds(body, task_kinds)
        if reports:
            body["reports"] = _report_items(reports)
        kwargs: dict[str, Any] = {}
        if wait_seconds > 0:
            body["wait_seconds"] = wait_seconds
            kwargs["timeout"] = httpx.Timeout(self.timeout, read=self.timeout + wait_seconds)
        answer = self._json(
            "POST", f"/api/v1/trials/{trial_id}/complete-and-claim", json=body, **kwargs
        )
        following = answer.get("next")
        trial = TrialView.from_json(answer["trial"])
        return trial, None if following is None else Lease.from_json(following)

    def fail(self, trial_id: int, token: str, failure_class: str, message: str = "") -> TrialView:
        body = {"lease_token": token, "failure_class": failure_class, "message": message[:10_000]}
        return TrialView.from_json(self._json("POST", f"/api/v1/trials/{trial_id}/fail", json=body))

    # -- logs and artifacts ----------------------------------------------------------------
    def append_log(self, trial_id: int, token: str, text: str) -> int:
        """Append whole lines to the log of the attempt holding `token`; returns its end."""
        body = {"lease_token": token, "text": text}
        return int(self._json("POST", f"/api/v1/trials/{trial_id}/logs", json=body)["end"])

    def read_log(
        self,
        trial_id: int,
        *,
        attempt: int | None = None,
        tail: int | None = None,
        since: int = 0,
    ) -> LogPage:
        params: dict[str, Any] = {"since": since}
        if attempt is not None:
            params["attempt"] = attempt
        if tail is not None:
            params["tail"] = tail
        response = self.request("GET", f"/api/v1/trials/{trial_id}/logs", params=params)
        attempts = response.headers.get("x-hpo-log-attempts", "")
        return LogPage(
            text=response.text,
            attempt=int(response.headers.get("x-hpo-log-attempt", "1")),
            end=int(response.headers.get("x-hpo-log-end", "0")),
            attempts=tuple(int(a) for a in attempts.split(",") if a),
            state=response.headers.get("x-hpo-trial-state", ""),
        )

    def put_artifact(self, trial_id: int, token: str, name: str, path: Path) -> dict[str, Any]:
        """Upload the file at `path` as the trial's artifact `name` (streamed, not read whole)."""
        # The size is sent up front: a server refuses a file past its limit before any byte.
        headers = {LEASE_HEADER: token, "Content-Length": str(path.stat().st_size)}
        answer = self._json(
            "PUT",
            f"/api/v1/trials/{trial_id}/artifacts/{quote(name)}",
            content=_FileBody(path),
            headers=headers,
        )
        return dict(answer)

    def list_artifacts(
        self, trial_id: int, prefix: str = "", token: str | None = None
    ) -> list[dict[str, Any]]:
        headers = {LEASE_HEADER: token} if token else {}
        rows = self._json(
            "GET",
            f"/api/v1/trials/{trial_id}/artifacts",
            params={"prefix": prefix},
            headers=headers,
        )
        return [dict(row) for row in rows]

    def download_artifact(
        self, trial_id: int, name: str, destination: Path, token: str | None = None
    ) -> int:
        """Write the artifact to `destination` (through a temporary file beside it, renamed
        when complete); returns its size."""
        headers = {LEASE_HEADER: token} if token else {}
        path = f"/api/v1/trials/{trial_id}/artifacts/{quote(name)}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        size = 0
        # Streamed from the current replica (no failover mid-file: the caller retries).
        with self._pools[self._current].stream("GET", path, headers=headers) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, _detail(response))
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    out.write(chunk)
        partial.replace(destination)
        return size

    # -- ask/tell --------------------------------------------------------------------------
    def ask(self, study_id: int, lease_seconds: float | None = None) -> Lease:
        body = {"lease_seconds": lease_seconds} if lease_seconds else {}
        return Lease.from_json(self._json("POST", f"/api/v1/studies/{study_id}/ask", json=body))

    def tell(
        self,
        trial_id: int,
        token: str,
        value: float | None = None,
        *,
        failed: bool = False,
        message: str = "",
        metrics: Mapping[str, Any] | None = None,
    ) -> TrialView:
        body: dict[str, Any] = {"lease_token": token, "metrics": dict(metrics or {})}
        if failed:
            body.update(state="failed", message=message)
        else:
            body["value"] = value
        return TrialView.from_json(self._json("POST", f"/api/v1/trials/{trial_id}/tell", json=body))

    def list_workers(self) -> list[WorkerView]:
        """The live workers (admin token): pools, devices, slots, current trials."""
        return [WorkerView.from_json(w) for w in self._json("GET", "/api/v1/workers")]

    def health(self) -> dict[str, Any]:
        return dict(self._json("GET", "/healthz"))


@dataclass
class StudyHandle:
    client: Client
    id: int

    def ask(self, lease_seconds: float | None = 3600.0) -> TrialHandle:
        lease = self.client.ask(self.id, lease_seconds)
        return TrialHandle(
            self.client, lease.trial_id, lease.lease_token, lease.params, lease.config
        )

    def best(self) -> BestConfig:
        return self.client.best(self.id)

    def leaderboard(self, k: int = 10) -> list[TrialView]:
        return self.client.leaderboard(self.id, k)


@dataclass
class TrialHandle:
    """A trial your own code evaluates: report intermediate values, then tell the result."""

    client: Client
    id: int
    token: str
    params: dict[str, Any]
    config: dict[str, Any]

    def report(self, step: int, value: float) -> bool:
        """Record a value at `step`; True when the pruner stopped the trial (stop training:
        its last value already counts)."""
        return self.client.report(self.id, self.token, step, value)

    def tell(self, value: float, metrics: Mapping[str, Any] | None = None) -> TrialView:
        return self.client.tell(self.id, self.token, value, metrics=metrics)

    def fail(self, message: str = "") -> TrialView:
        return self.client.tell(self.id, self.token, failed=True, message=message)


@dataclass(frozen=True)
class LogPage:
    """One answer of `GET /api/v1/trials/{id}/logs`: `end` is the offset to ask `since` next."""

    text: str
    attempt: int
    end: int
    attempts: tuple[int, ...]
    state: str


LEASE_HEADER = "X-Hpo-Lease-Token"


class _FileBody:
    """A file as a request body that a retry can send again: each send opens it anew."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]


def _report_items(reports: Sequence[tuple[int, float]]) -> list[dict[str, Any]]:
    return [{"step": int(step), "value": float(value)} for step, value in reports]


def _add_task_kinds(body: dict[str, Any], task_kinds: Sequence[str]) -> None:
    """Say which task kinds the worker runs only when it is more than the built-in ones (what
    a claim without the field means), so a worker without --allow-commands still speaks to a
    server from before command trials, which refuses fields it does not know."""
    if list(task_kinds) != ["builtin"]:
        body["task_kinds"] = list(task_kinds)
