"""Command trials with their logs, checkpoints and outputs: a worker SIGKILLed in the middle of
one takes its script with it, the requeued attempt on another worker starts from the uploaded
checkpoint (tests/e2e/command_scripts/steps.py says which step it resumed from), the trial
completes once, its log holds every line the script printed on stdout and stderr, and what the
script left in HPO_OUTPUT_DIR comes back with `hpo best --artifacts`. Real `hpo serve` and
`hpo worker` processes over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.command_scripts.steps import value
from tests.faults._harness import ROOT, api_server, kill_worker, start_cli_worker, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN, WORKER = "admin-cmd-resume-e2e", "worker-cmd-resume-e2e-0123456789"
SCRIPTS = ROOT / "tests" / "e2e" / "command_scripts"
STEPS = 12


def _spec(name: str, **env: str) -> dict[str, Any]:
    return {
        "name": name,
        "task": {
            "kind": "command",
            "command": [sys.executable, "steps.py"],
            "workdir": str(SCRIPTS),
            "metric": "score",
            "direction": "minimize",
            "params_in_env": True,
            "env": {"STEPS": str(STEPS), **env},
        },
        "space": {"seed": {"type": "categorical", "choices": [1]}},
        "sampler": "grid",
        "budget": {"n_trials": 1, "max_parallel": 1, "max_attempts": 3},
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
    else:
        yield {"HPO_DATABASE_URL": request.getfixturevalue("pg_url")}


def _worker(api: Any, name: str, log: Path, work: Path) -> subprocess.Popen[bytes]:
    return start_cli_worker(
        api,
        name,
        log,
        WORKER,
        "--no-warm-up",
        "--allow-commands",
        str(SCRIPTS),
        "--work-dir",
        str(work),
    )


_stop = kill_worker


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited, only not reaped yet


def _printed(resumed_from: int, attempt: int) -> dict[str, list[str]]:
    """What steps.py prints on each stream from `resumed_from` on (its bulk lines aside)."""
    steps = range(resumed_from, STEPS)
    final = {"score": value(STEPS - 1), "resumed_from": resumed_from}
    final |= {"steps_run": STEPS - resumed_from, "final": True}
    stdout: list[str] = []
    for s in steps:
        stdout += [f"stdout step {s}", json.dumps({"step": s, "score": value(s)})]
    return {
        "stdout": [*stdout, json.dumps(final)],
        "stderr": [
            f"attempt {attempt} starts at step {resumed_from}",
            *(f"stderr step {s}" for s in steps),
        ],
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_command_trial_resumes_from_its_checkpoint_and_keeps_its_outputs(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER, "HPO_LEASE_SECONDS": "5",
           **database_env}  # fmt: skip
    with api_server(tmp_path, env) as api:
        http = httpx.Client(base_url=api.url, headers=admin, timeout=30)
        answer = http.post("/api/v1/studies", json=_spec("cmd-resume", PIDS_DIR=str(pids)))
        assert answer.status_code == 201, answer.text
        study = answer.json()
        first = _worker(api, "first", tmp_path / "first.log", tmp_path / "work-first")

        def trial() -> dict[str, Any]:
            items = http.get(f"/api/v1/studies/{study['id']}/trials").json()["items"]
            return dict(items[0]) if items else {}

        def checkpointed_past_three() -> bool:
            t = trial()
            if not t or (t.get("last_step") or 0) < 3:
                return False
            names = [a["name"] for a in http.get(f"/api/v1/trials/{t['id']}/artifacts").json()]
            return "checkpoint/step.json" in names

        try:
            wait_for(checkpointed_past_three, 60, "step 3 reported and checkpointed", poll=0.05)
            script = int((pids / "attempt-1").read_text())
            assert _alive(script)
            first.kill()  # SIGKILL, in the middle of the trial: no handler runs
            first.wait(timeout=30)
            killed_at = trial()["last_step"]
            assert trial()["state"] == "running" and killed_at < STEPS - 1
        finally:
            _stop(first)
        # The kernel takes the script with the worker (its parent-death signal).
        deadline = time.monotonic() + 10
        while _alive(script) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(script), "the script outlived its SIGKILLed worker"

        second = _worker(api, "second", tmp_path / "second.log", tmp_path / "work-second")
        try:
            wait_for(lambda: trial().get("state") == "completed", 60, "the resumed trial")
        finally:
            _stop(second)
        done = trial()
        trial_id = done["id"]
        logs = {
            n: http.get(f"/api/v1/trials/{trial_id}/logs", params={"attempt": n}).text
            for n in (1, 2)
        }
        cli_env = {**api.env, "HPO_TOKEN": ADMIN}
        cli_logs = subprocess.run(
            [sys.executable, "-m", "hpo.cli", "logs", str(trial_id), "--tail", "4",
             "--api", api.url],
            capture_output=True, text=True, cwd=ROOT, env=cli_env, timeout=60,
        )  # fmt: skip
        best = subprocess.run(
            [sys.executable, "-m", "hpo.cli", "best", str(study["id"]), "--api", api.url,
             "--artifacts", str(tmp_path / "best")],
            capture_output=True, text=True, cwd=ROOT, env=cli_env, timeout=60,
        )  # fmt: skip
        rows = http.get(f"/api/v1/studies/{study['id']}/trials").json()["items"]

    # The first attempt's script did not train on unseen: it left no outputs, and its
    # checkpoint is where it was when the worker died (an orphan would have run to the end
    # while the second attempt ran).
    first_attempt = tmp_path / "work-first" / f"trial-{trial_id}" / "attempt-1"
    assert not (first_attempt / "output" / "result.json").exists()
    orphan_next = json.loads((first_attempt / "checkpoint" / "step.json").read_text())["next"]
    assert orphan_next <= killed_at + 1, (killed_at, orphan_next)

    # Completed once, by the second worker, on the second attempt.
    assert len(rows) == 1 and done["state"] == "completed", rows
    assert done["attempt"] == 2 and done["worker_id"] == "second", done
    # Resumed, not restarted: from the last uploaded checkpoint, at most the step in flight
    # when the worker died is done again.
    resumed_from = int(done["metrics"]["resumed_from"])
    assert killed_at <= resumed_from <= killed_at + 1, (killed_at, resumed_from)
    assert done["metrics"]["steps_run"] == STEPS - resumed_from
    assert done["value"] == value(STEPS - 1)

    # The second attempt's log: every line the script printed on each stream, in its order
    # (the two streams interleave as they arrive), after the worker's note of the restore.
    lines = logs[2].splitlines()
    assert "restored the checkpoint of an earlier attempt" in lines[0], lines[:3]
    expected = _printed(resumed_from, attempt=2)
    stderr_lines = set(expected["stderr"])
    assert [ln for ln in lines[1:] if ln not in stderr_lines] == expected["stdout"]
    assert [ln for ln in lines[1:] if ln in stderr_lines] == expected["stderr"]
    # The first attempt's log is its own: from step 0, as far as it got. The log goes up about
    # once a second, and so do the reports (batched, no pruner), each on its own clock: a
    # SIGKILL loses the last second of either, so the log's steps are a prefix of the steps
    # run, not necessarily every one the server had a report of.
    first_lines = logs[1].splitlines()
    assert first_lines[0] == "attempt 1 starts at step 0"
    logged = [ln for ln in first_lines if ln.startswith("stdout step ")]
    assert logged == [f"stdout step {s}" for s in range(len(logged))], logged
    # `hpo logs --tail` prints the end of the latest attempt's log.
    assert cli_logs.returncode == 0, cli_logs.stderr
    assert cli_logs.stdout.splitlines() == lines[-4:]

    # What the script left in HPO_OUTPUT_DIR is the trial's, and the best trial's comes back.
    assert best.returncode == 0, best.stderr
    output = tmp_path / "best" / "output"
    assert json.loads((output / "result.json").read_text())["resumed_from"] == resumed_from
    assert (output / "weights" / "w.txt").read_text() == f"trained {STEPS} steps\n"
    assert not (tmp_path / "best" / "checkpoint").exists()


def test_a_command_trials_log_keeps_its_last_mebibyte(tmp_path: Path) -> None:
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER}
    with api_server(tmp_path, env) as api:
        http = httpx.Client(
            base_url=api.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
        )
        spec = _spec("cmd-big-log", STEPS="2", STEP_SECONDS="0", BULK_LINES="1500")
        study = http.post("/api/v1/studies", json=spec).json()
        worker = _worker(api, "bulk", tmp_path / "worker.log", tmp_path / "work")
        try:
            wait_for(
                lambda: [t["state"] for t in http.get(
                    f"/api/v1/studies/{study['id']}/trials").json()["items"]] == ["completed"],
                60, "the trial",
            )  # fmt: skip
        finally:
            _stop(worker)
        trial_id = http.get(f"/api/v1/studies/{study['id']}/trials").json()["items"][0]["id"]
        text = http.get(f"/api/v1/trials/{trial_id}/logs").text
    lines = text.splitlines()
    assert lines[0].startswith("[hpo: ") and "dropped" in lines[0], lines[0]
    assert len(text.encode()) - len(lines[0]) - 1 <= 1 << 20
    assert not any(ln.startswith("bulk 000000 ") for ln in lines)  # the oldest went
    assert any(ln.startswith("bulk 001499 ") for ln in lines)
    assert "stdout step 1" in lines and '"final": true' in text
