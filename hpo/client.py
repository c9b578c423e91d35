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
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from hpo.errors import HpoError
from hpo.outage import Outage
from hpo.wire import BestConfig, CreatedStudy, Lease, StudyView, TrialPage, TrialView

_RETRY_STATUS = frozenset({502, 503, 504})


class ApiError(HpoError):
    """The API refused a request; `status` is the HTTP status, the message its detail."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiUnreachable(HpoError):
    """The API did not answer after every retry."""


@dataclass
class Client:
    """One connection pool to one API. `retries` bounds the attempts of every request; None
    retries until the API answers (a worker: see hpo.outage), with `outage` (shared by the
    threads of one worker) saying so once a minute and giving up when told to."""

    url: str
    token: str | None = None
    timeout: float = 30.0
    retries: int | None = 8
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 15.0
    outage: Outage | None = None
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(
            base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries on connection errors, timeouts and 502/503/504. Raises ApiError
        for any other 4xx/5xx. Retrying a complete/report is safe: the API treats a repeat
        that already landed as a no-op."""
        delay = min(self.backoff_seconds, self.max_backoff_seconds)
        last: str = ""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if response.status_code not in _RETRY_STATUS:
                    if self.outage is not None:
                        self.outage.answered()
                    if response.status_code >= 400:
                        raise ApiError(response.status_code, _detail(response))
                    return response
                last = f"HTTP {response.status_code}: {_detail(response)}"
            if self.outage is not None:
                self.outage.failed(self.url, f"{method} {path}: {last}")  # may give up
            if self.retries is not None and attempt >= self.retries:
                break
            attempt += 1
            time.sleep(delay * (0.5 + random.random()))  # jitter: workers don't stampede
            delay = min(delay * 2, self.max_backoff_seconds)
        raise ApiUnreachable(
            f"{method} {self.url}{path} failed after {attempt + 1} attempts ({last}); "
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
        self, study_id: int, *, action: str | None = None, n_trials: int | None = None
    ) -> StudyView:
        body = {k: v for k, v in {"action": action, "n_trials": n_trials}.items() if v is not None}
        return StudyView.from_json(self._json("PATCH", f"/api/v1/studies/{study_id}", json=body))

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
    ) -> Lease | None:
        """The next trial for `worker_id`, or None when there is no work right now. With
        `wait_seconds`, the API holds a claim that finds no work up to that long (long-poll,
        capped by the server) and answers as soon as a trial can be served."""
        body: dict[str, Any] = {"worker_id": worker_id, "host": host, "devices": devices or []}
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
        body = {"lease_token": token, "step": step, "value": value}
        answer = self._json("POST", f"/api/v1/trials/{trial_id}/reports", json=body)
        return bool(answer["should_prune"])

    def complete(
        self, trial_id: int, token: str, value: float, metrics: Mapping[str, Any] | None = None
    ) -> TrialView:
        body = {"lease_token": token, "value": value, "metrics": dict(metrics or {})}
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
    ) -> tuple[TrialView, Lease | None]:
        """`complete`, then `claim` for `worker_id`, in one request: (the completed trial, the
        next lease or None when there is no work right now). Safe to retry like `complete`."""
        body = {
            "lease_token": token,
            "value": value,
            "metrics": dict(metrics or {}),
            "worker_id": worker_id,
            "host": host,
            "devices": devices or [],
        }
        answer = self._json("POST", f"/api/v1/trials/{trial_id}/complete-and-claim", json=body)
        following = answer.get("next")
        trial = TrialView.from_json(answer["trial"])
        return trial, None if following is None else Lease.from_json(following)

    def fail(self, trial_id: int, token: str, failure_class: str, message: str = "") -> TrialView:
        body = {"lease_token": token, "failure_class": failure_class, "message": message[:10_000]}
        return TrialView.from_json(self._json("POST", f"/api/v1/trials/{trial_id}/fail", json=body))

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


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]
