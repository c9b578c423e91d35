"""End to end: command trials. `hpo serve` and `hpo worker --allow-commands` as real processes
over HTTP, running tests/e2e/command_scripts/behave.py, a deterministic script whose `--mode`
says how it behaves: completes (its values are checked against what it computes), fails in
each way a worker classifies, or is pruned while a child it started still runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hpo.client import Client
from hpo.outage import Outage
from hpo.wire import Lease
from hpo.worker import Outcome, WorkerOptions
from hpo.worker.command import AttemptDirs, run_command
from hpo.worker.reports import ReportSender
from tests.e2e._servers import hpo_argv, running_server
from tests.e2e.command_scripts.behave import score
from tests.faults.conftest import pg_url  # noqa: F401  (the PostgreSQL fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPTS = Path(__file__).parent / "command_scripts"
LEASE_SECONDS = 60


def command_spec(name: str, command: list[str], **task: Any) -> dict[str, Any]:
    return {
        "name": name,
        "task": {
            "kind": "command",
            "command": [sys.executable, "behave.py", *command],
            "workdir": str(SCRIPTS),
            "metric": "score",
            "direction": "minimize",
            **task,
        },
        "sampler": "random",
    }


@contextmanager
def worker(
    url: str, env: dict[str, str], log: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            hpo_argv("worker", "--api", url, "--device", "cpu", "--no-warm-up",
                     "--wait-seconds", "0", "--poll-seconds", "0.1", "-v", *args),
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def create(url: str, spec: dict[str, Any]) -> int:
    answer = httpx.post(f"{url}/api/v1/studies", json=spec, timeout=10)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def trials(url: str, study_id: int) -> list[dict[str, Any]]:
    page = httpx.get(f"{url}/api/v1/studies/{study_id}/trials", timeout=10).json()
    return list(page["items"])


def wait_for(
    url: str, study_id: int, done: Any, logs: list[Path], timeout: float = 90
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = trials(url, study_id)
        if done(rows):
            return rows
        time.sleep(0.1)
    pytest.fail(f"timed out: {trials(url, study_id)}\n" + "\n".join(p.read_text() for p in logs))


def all_finished(n: int) -> Any:
    return lambda rows: (
        len(rows) == n and all(r["state"] in ("completed", "failed", "pruned") for r in rows)
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    extra = {}
    if request.param == "postgresql":
        extra["HPO_DATABASE_URL"] = request.getfixturevalue("pg_url")
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=LEASE_SECONDS, extra_env=extra) as served:
        yield served


@pytest.fixture
def sqlite_server(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=LEASE_SECONDS) as served:
        yield served


def test_two_workers_complete_a_command_study_with_the_scripts_values(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = server
    spec = command_spec("cmd-two-workers", ["--mode", "score", "--x", "{x}", "--y", "{y}"])
    spec["space"] = {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "y": {"type": "int", "low": 1, "high": 5},
    }
    spec["budget"] = {"n_trials": 6, "max_parallel": 2}
    study_id = create(url, spec)
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    root = str(SCRIPTS)
    with (
        worker(url, env, logs[0], "--allow-commands", root),
        worker(url, env, logs[1], "--allow-commands", root),
    ):
        rows = wait_for(url, study_id, all_finished(6), logs)
    assert all(r["state"] == "completed" for r in rows), rows
    for r in rows:
        # The final line's value, not the last report's or the line after it.
        assert r["value"] == score(r["params"]["x"], r["params"]["y"])
        assert r["metrics"]["extra"] == 99
    assert len({r["worker_id"] for r in rows}) == 2, "both workers ran trials"
    assert httpx.get(f"{url}/api/v1/studies/{study_id}", timeout=5).json()["state"] == "completed"


def test_failures_are_classified_and_the_worker_lives_on(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_server
    argv_log = tmp_path / "argv"
    argv_log.mkdir()
    spec = command_spec(
        "cmd-failures",
        ["--mode", "{mode}", "--a", "{payload_a}", "--b={payload_b}"],
        timeout_s=2,
        env={"ARGV_LOG": str(argv_log / "{mode}.json")},
    )
    modes = ["ok", "exit1", "nometric", "sleep", "oom"]
    spec["space"] = {"mode": {"type": "categorical", "choices": modes}}
    spec["fixed"] = {"payload_a": '"; rm -rf /"', "payload_b": "$(id)"}
    spec["sampler"] = "grid"
    spec["budget"] = {"n_trials": len(modes), "max_parallel": 1, "max_config_errors": 10}
    study_id = create(url, spec)
    log = tmp_path / "worker.log"
    with worker(url, env, log, "--allow-commands", str(SCRIPTS), "--kill-grace-s", "1") as w:
        rows = wait_for(url, study_id, all_finished(len(modes)), [log])
        assert w.poll() is None, f"the worker died with a script: {log.read_text()}"
    by_mode = {r["params"]["mode"]: r for r in rows}
    assert by_mode["ok"]["state"] == "completed" and by_mode["ok"]["value"] == 1.5
    exit1 = by_mode["exit1"]
    assert (exit1["state"], exit1["failure_class"]) == ("failed", "user")
    assert "exited with code 1" in exit1["failure_message"]
    assert "stderr line 24" in exit1["failure_message"]
    assert "stderr line 5" in exit1["failure_message"]  # the last 20 lines: 5..24
    assert "stderr line 4\n" not in exit1["failure_message"]
    assert by_mode["nometric"]["failure_class"] == "config"
    assert "printed no metric 'score'" in by_mode["nometric"]["failure_message"]
    assert by_mode["sleep"]["failure_class"] == "timeout"
    assert by_mode["oom"]["failure_class"] == "oom"
    # Params reach the script as whole arguments, never through a shell.
    argv = json.loads((argv_log / "ok.json").read_text())
    assert argv == ["--mode", "ok", "--a", '"; rm -rf /"', "--b=$(id)"]


EXAMPLES = Path(__file__).parents[2] / "search_spaces" / "examples"


@pytest.mark.parametrize("example", ["digits_stdout", "digits_sdk"])
def test_the_shipped_examples_run_and_score_what_they_score_by_hand(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path, example: str
) -> None:
    url, env = sqlite_server
    spec = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    spec["task"]["command"][0] = sys.executable  # `python` on a PATH without the venv
    spec["fixed"]["epochs"] = 3
    spec["budget"] = {"n_trials": 1, "max_parallel": 1}
    study_id = create(url, spec)
    log = tmp_path / "worker.log"
    work = tmp_path / "work"
    with worker(url, env, log, "--allow-commands", str(EXAMPLES), "--work-dir", str(work)):
        rows = wait_for(url, study_id, all_finished(1), [log], timeout=120)
    assert [r["state"] for r in rows] == ["completed"], rows
    row = rows[0]
    # The same params by hand: the command line for the stdout script, HPO_PARAMS for the SDK.
    params = {**spec["fixed"], **row["params"]}
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    argv = [sys.executable, str(EXAMPLES / "digits" / f"train_{example.split('_')[1]}.py")]
    hand_env = {k: v for k, v in env.items() if not k.startswith("HPO_")}
    if example == "digits_stdout":
        argv += [f"--{k}" if i % 2 == 0 else str(v) for k, v in params.items() for i in (0, 1)]
    else:
        hand_env["HPO_PARAMS"] = json.dumps(params)
    out = subprocess.run(
        argv, cwd=by_hand, env=hand_env, capture_output=True, text=True, check=True
    )
    if example == "digits_stdout":
        expected = json.loads(out.stdout.splitlines()[-1])["val_accuracy"]
    else:
        expected = json.loads((by_hand / "hpo-run/output/result.json").read_text())["val_accuracy"]
        kept = work / f"trial-{row['id']}" / "attempt-1"
        assert (kept / "checkpoint" / "last.pt").is_file()
        assert (kept / "output" / "model.pt").is_file()
    assert row["value"] == expected
    assert len(row["metrics"]["curve"]) == 3


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # exited, not yet reaped by whoever inherited it


def test_pruning_kills_the_scripts_process_group(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_server
    pids_log = tmp_path / "pids.json"
    spec = command_spec("cmd-prune", ["--mode", "{mode}"], env={"PIDS_LOG": str(pids_log)})
    spec["task"]["direction"] = "maximize"
    modes = ("good", "bad", "sdk_bad")
    spec["space"] = {"mode": {"type": "categorical", "choices": list(modes)}}
    spec["pruner"] = {"name": "median", "options": {"n_startup_trials": 1}}
    spec["budget"] = {"n_trials": 3, "max_parallel": 1}
    study_id = create(url, spec)
    for mode in modes:  # in this order: the good run is the median to beat
        answer = httpx.post(
            f"{url}/api/v1/studies/{study_id}/trials", json={"params": {"mode": mode}}, timeout=5
        )
        assert answer.status_code in (200, 201), answer.text
    log = tmp_path / "worker.log"
    with worker(url, env, log, "--allow-commands", str(SCRIPTS), "--kill-grace-s", "1") as w:
        rows = wait_for(url, study_id, all_finished(3), [log])
        assert w.poll() is None, log.read_text()
    by_mode = {r["params"]["mode"]: r for r in rows}
    assert by_mode["good"]["state"] == "completed"
    assert by_mode["bad"]["state"] == "pruned", by_mode["bad"]
    pids = json.loads(pids_log.read_text())
    assert _gone(pids["script"]), "the script (which ignores SIGTERM) survived the prune"
    assert _gone(pids["child"]), "the script's child survived the prune"
    # The SDK: trial.report said stop at the first report the pruner judged, and the script
    # stopped itself.
    assert by_mode["sdk_bad"]["state"] == "pruned", by_mode["sdk_bad"]
    sdk = json.loads(Path(str(pids_log) + ".sdk").read_text())
    assert sdk == {"stopped_at": 0, "should_prune": True}


def test_workdir_outside_the_allowed_roots_is_refused(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_server
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "escape").symlink_to(SCRIPTS, target_is_directory=True)  # points out
    spec = command_spec("cmd-symlink-out", ["--mode", "ok"], workdir="escape")
    spec["space"] = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    spec["task"]["params_in_env"] = True
    spec["budget"] = {"n_trials": 1, "max_parallel": 1}
    study_id = create(url, spec)
    log = tmp_path / "worker.log"
    with worker(url, env, log, "--allow-commands", str(allowed), "--exit-when-idle"):
        rows = wait_for(url, study_id, all_finished(1), [log])
    assert rows[0]["failure_class"] == "config"
    assert "outside the folders this worker allows" in rows[0]["failure_message"]
    assert str(SCRIPTS.resolve()) in rows[0]["failure_message"]


def test_a_worker_without_allow_commands_never_claims_a_command_trial(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_server
    spec = command_spec("cmd-unclaimed", ["--mode", "ok"], params_in_env=True)
    spec["space"] = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    spec["budget"] = {"n_trials": 1, "max_parallel": 1}
    study_id = create(url, spec)
    log = tmp_path / "worker.log"
    with worker(url, env, log, "--exit-when-idle") as w:
        assert w.wait(timeout=30) == 0, log.read_text()
    assert trials(url, study_id) == []
    # The same study is claimed at once by a worker that allows it.
    with worker(url, env, log, "--exit-when-idle", "--allow-commands", str(SCRIPTS)) as w:
        assert w.wait(timeout=30) == 0, log.read_text()
    assert [r["state"] for r in trials(url, study_id)] == ["completed"]


def test_a_worker_that_must_exit_at_once_takes_its_script_with_it(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = sqlite_server
    pids_log = tmp_path / "pids.json"
    spec = command_spec("cmd-exit-now", ["--mode", "bad"], env={"PIDS_LOG": str(pids_log)})
    spec["space"] = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    spec["task"]["params_in_env"] = True
    spec["budget"] = {"n_trials": 1, "max_parallel": 1}
    create(url, spec)
    log = tmp_path / "worker.log"
    with worker(url, env, log, "--allow-commands", str(SCRIPTS), "--kill-grace-s", "60") as w:
        deadline = time.monotonic() + 30
        while not pids_log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids_log.exists(), log.read_text()
        time.sleep(0.2)  # the pids file is complete once the script reports
        pids = json.loads(pids_log.read_text())
        # The first signal stops the script (which ignores SIGTERM: a 60 s grace); the second
        # exits the worker now, and the script's group goes with it.
        w.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        w.send_signal(signal.SIGTERM)
        assert w.wait(timeout=15) != 0
    deadline = time.monotonic() + 5
    while not (_gone(pids["script"]) and _gone(pids["child"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pids["script"]) and _gone(pids["child"]), log.read_text()


class RecordingHooks:
    """What log streaming and checkpoint sync will plug in: here, it records."""

    def __init__(self) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.reports = 0
        self.sender: ReportSender | None = None
        self.started_with: list[Path] = []
        self.outcome: Outcome | None = None

    def on_stdout_line(self, line: str) -> None:
        self.stdout.append(line)

    def on_stderr_line(self, line: str) -> None:
        self.stderr.append(line)

    def start(self, lease: Lease, dirs: AttemptDirs, reports: ReportSender) -> list[RecordingHooks]:
        assert dirs.checkpoint.is_dir() and not any(dirs.checkpoint.iterdir())
        self.started_with.append(dirs.checkpoint)
        self.sender = reports
        return [self]

    def reported(self, lease: Lease, dirs: AttemptDirs) -> None:
        self.reports += 1

    def ended(self, lease: Lease, dirs: AttemptDirs, outcome: Outcome) -> None:
        self.outcome = outcome


def test_the_attempt_hooks_see_every_line_each_report_and_the_outcome(
    sqlite_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, _env = sqlite_server
    spec = command_spec("cmd-hooks", ["--mode", "score", "--x", "{x}", "--y", "{y}"])
    spec["space"] = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    spec["fixed"] = {"y": 2}
    spec["budget"] = {"n_trials": 1, "max_parallel": 1}
    create(url, spec)
    client = Client(url)
    lease = client.claim("hooks", task_kinds=["command"])
    assert lease is not None
    options = WorkerOptions(api=url, allow_commands=(str(SCRIPTS),), work_dir=str(tmp_path))
    hooks = RecordingHooks()
    outcome = run_command(
        lease, "cpu", options, reporter=client, outage=Outage(), stop=threading.Event(), hooks=hooks
    )
    expected = score(lease.params["x"], 2)
    assert outcome.kind == "completed" and outcome.value == expected
    assert hooks.outcome == outcome
    # Five report lines (the final one and the one after it included). No pruner, so they
    # are batched: those sent (then `reported`) and the rest, with the result, make five.
    assert lease.sync_reports is False
    assert hooks.sender is not None and hooks.reports == hooks.sender.requests
    assert hooks.sender.sent + len(outcome.reports) == 5
    assert len(hooks.stdout) == 5 and json.loads(hooks.stdout[3])["final"] is True
    assert hooks.started_with == [tmp_path / f"trial-{lease.trial_id}" / "attempt-1" / "checkpoint"]
