"""Real processes for the fault tests: an `hpo serve` that can be SIGKILLed and restarted on
the same port and database, and simulated workers (`tests/faults/sim_worker.py`) in their own
processes, so a SIGKILL is a real one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from hpo.serving import ServeFailed, start_serve, stop_serve, wait_healthy
from hpo.serving import free_port as free_port  # the tests import it from here

ROOT = Path(__file__).resolve().parents[2]


class ApiServer:
    """`hpo serve` on a fixed loopback port; `kill()` is SIGKILL, `start()` starts it again
    on the same port and database. Its output goes to `log` (appended across restarts)."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        *,
        port: int | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "serve.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
        self.env = {
            **inherited,
            "HPO_DATA_DIR": str(workdir / "data"),
            "HPO_CACHE_DIR": str(workdir / "cache"),
            "HPO_REAPER_INTERVAL_SECONDS": "0.3",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> None:
        self.process = start_serve(
            self.port, self.args, env=self.env, log=self.log, append=True, cwd=ROOT
        )
        self.starts += 1
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        try:
            wait_healthy(self.url, self.process, timeout=timeout, poll=0.1, request_timeout=2)
        except ServeFailed as e:
            what = "exited" if e.returncode is not None else f"not healthy in {timeout}s"
            raise RuntimeError(f"hpo serve {what}: {self.log.read_text()[-3000:]}") from None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no commit of anything in flight."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop_serve(self.process, timeout=20)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


@contextmanager
def api_server(workdir: Path, env: dict[str, str]) -> Iterator[ApiServer]:
    server = ApiServer(workdir, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_sim_worker(
    url: str,
    journal: Path,
    *,
    name: str,
    token: str | None = None,
    kill_rate: float = 0.0,
    seed: int = 0,
    steps: int = 3,
    step_seconds: float = 0.01,
    log: Path | None = None,
    pools: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "tests.faults.sim_worker", "--api", url, "--journal", str(journal),
        "--name", name, "--kill-rate", str(kill_rate), "--seed", str(seed),
        "--steps", str(steps), "--step-seconds", str(step_seconds),
    ]  # fmt: skip
    argv += [arg for pool in pools for arg in ("--pool", pool)]
    env = {**os.environ}
    if token:
        env["HPO_WORKER_TOKEN"] = token
    out = (log or journal.with_suffix(f".{name}.log")).open("ab")
    return subprocess.Popen(argv, env=env, stdout=out, stderr=out, cwd=ROOT)


def start_cli_worker(
    api: Any, name: str, log: Path, token: str, *extra: str
) -> subprocess.Popen[bytes]:
    """A real `hpo worker` on the CPU against `api`, polling fast, with `token` as its worker
    token (and no other token from the server's environment); output appended to `log`."""
    argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", api.url, "--device", "cpu",
            "--poll-seconds", "0.2", "--worker-id", name, *extra]  # fmt: skip
    env = {k: v for k, v in api.env.items() if not k.endswith("_TOKEN")}
    env["HPO_WORKER_TOKEN"] = token
    out = log.open("ab")
    return subprocess.Popen(argv, stdout=out, stderr=out, cwd=ROOT, env=env)


def kill_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL it if it still runs, and reap it."""
    if worker.poll() is None:
        worker.kill()
    worker.wait(timeout=30)


def read_journal(journal: Path) -> list[dict[str, Any]]:
    """The sim workers' journal: one JSON object per line (a line cut by a kill is skipped)."""
    import json

    entries: list[dict[str, Any]] = []
    if not journal.exists():
        return entries
    for line in journal.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def all_trials(url: str, study_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = httpx.get(
            f"{url}/api/v1/studies/{study_id}/trials",
            params={"offset": len(items), "limit": 1000},
            timeout=30,
        ).json()
        items += page["items"]
        if len(items) >= page["total"] or not page["items"]:
            return items


def grid_spec(name: str, points: int, *, max_parallel: int = 8) -> dict[str, Any]:
    """A grid study of `points` trials: each point must be completed exactly once."""
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": {"x": {"type": "int", "low": 0, "high": points - 1}},
        "sampler": "grid",
        "budget": {"n_trials": points, "max_parallel": max_parallel, "max_attempts": 20},
        "check_config": False,  # its params are not the trainers' (no trainer runs them)
    }


def objective(params: dict[str, Any]) -> float:
    """What the simulated workers report: a pure function of the params, so a value recorded
    against the wrong trial shows."""
    return float(params["x"]) * 0.5 + 1.0


def check_study_outcome(
    url: str, study_id: int, points: int, journal: Path, *, max_attempts: int = 20
) -> list[dict[str, Any]]:
    """The promises: every grid point completed exactly once with its own value, nothing a
    worker saw acknowledged is missing or different, no trial failed."""
    trials = all_trials(url, study_id)
    states = [t["state"] for t in trials]
    assert states.count("completed") == points, _summary(trials)
    assert len(trials) == points, _summary(trials)
    xs = sorted(t["params"]["x"] for t in trials)
    assert xs == list(range(points)), "a grid point was skipped or handed out twice"
    for t in trials:
        assert t["value"] == objective(t["params"]), f"trial {t['id']} holds another's value"
        assert t["attempt"] <= max_attempts
    by_id = {t["id"]: t for t in trials}
    for entry in read_journal(journal):
        if entry["event"] == "completed":
            # The API acknowledged this complete: it must be there, unchanged.
            stored = by_id[entry["trial_id"]]
            assert stored["state"] == "completed" and stored["value"] == entry["value"]
    study = httpx.get(f"{url}/api/v1/studies/{study_id}", timeout=30).json()
    assert study["state"] == "completed", study
    return trials


def _summary(trials: list[dict[str, Any]]) -> str:
    from collections import Counter

    return f"{len(trials)} trials, states {dict(Counter(t['state'] for t in trials))}"


def wait_for(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
