"""The CLI's tables on a real server (issue 17): at 80 columns on a terminal and piped, the
objective and trial columns keep their full values; piped tables are TSV; `--json` gives the
records; a study name works where an id does (the newest of that name); `hpo serve` on a
busy port says so in one line, before announcing anything."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hpo.client import Client
from tests.e2e._servers import free_port, hpo_argv, running_server

pytestmark = [pytest.mark.e2e]

# Enough parameters that the wide table does not fit 80 columns.
SPEC: dict[str, Any] = {
    "name": "wide-table",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1, "metric": "val_accuracy"},
    "space": {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "width": {"type": "int", "low": 16, "high": 512},
        "depth": {"type": "int", "low": 1, "high": 3},
        "activation": {"type": "categorical", "choices": ["relu", "gelu", "tanh"]},
        "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
    },
    "sampler": "random",
    "budget": {"n_trials": 5},
    "seed": 3,
}
VALUES = [0.812345, 0.923456, 0.734567]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("tables")
    with running_server(tmp, tmp / "cache", lease_seconds=60) as (url, env):
        client = Client(url, retries=0)
        client.create_study({**SPEC, "budget": {"n_trials": 2}})  # an older namesake
        study = client.create_study(SPEC)
        for value in VALUES:
            lease = client.ask(study.id)
            client.tell(lease.trial_id, lease.lease_token, value)
        yield url, env


def piped(url: str, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(hpo_argv(*args, "--api", url), env={**env, "COLUMNS": "80"},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def on_a_terminal(url: str, env: dict[str, str], *args: str, columns: int = 80) -> str:
    """Run with stdout on a pseudo-terminal `columns` wide; what it printed, without ANSI."""
    leader, follower = pty.openpty()
    term_env = {**env, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen(hpo_argv(*args, "--api", url), env=term_env, stdout=follower,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, "no output within 60 s"
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal (EIO on Linux)
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return ANSI.sub("", b"".join(chunks).decode())


def test_leaderboard_at_80_columns_keeps_the_objective_and_trial(
    server: tuple[str, dict[str, str]],
) -> None:
    url, env = server
    out = on_a_terminal(url, env, "leaderboard", "2")
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "val_accuracy" in out and "…" not in out, out
    # Best first, each with its rank, trial number and full objective value.
    rows = re.findall(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*(0\.\d{4})\s*│", out)
    assert rows == [("1", "1", "0.9235"), ("2", "0", "0.8123"), ("3", "2", "0.7346")], out
    # The parameters fold into one wrapping column rather than cutting the key columns.
    assert "params" in out and "lr=" in out


def test_leaderboard_piped_is_tsv_with_full_values(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    lines = piped(url, env, "leaderboard", "2").splitlines()
    header = lines[0].split("\t")
    assert header == ["#", "trial", "val_accuracy", *SPEC["space"]]
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[:3] for row in rows] == [["1", "1", "0.9235"], ["2", "0", "0.8123"],
                                         ["3", "2", "0.7346"]]  # fmt: skip
    assert all(len(row) == len(header) for row in rows)
    assert rows[0][header.index("activation")] in ("relu", "gelu", "tanh")


def test_a_study_name_means_its_newest_study(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    assert piped(url, env, "leaderboard", "wide-table") == piped(url, env, "leaderboard", "2")
    board = json.loads(piped(url, env, "leaderboard", "wide-table", "--json"))
    assert [row["value"] for row in board] == sorted(VALUES, reverse=True)
    proc = subprocess.run(hpo_argv("leaderboard", "no-such-study", "--api", url), env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: no study named 'no-such-study': give its id or name (see `hpo study list`)\n"
    )


def test_study_list_piped_and_json(server: tuple[str, dict[str, str]]) -> None:
    url, env = server
    lines = piped(url, env, "study", "list").splitlines()
    assert lines[0].split("\t") == ["id", "name", "state", "sampler", "progress", "best", "reason"]
    assert lines[1].split("\t") == ["2", "wide-table", "running", "random", "3/5", "0.9235", ""]
    listed = json.loads(piped(url, env, "study", "list", "--json"))
    assert [s["id"] for s in listed] == [2, 1]
    out = on_a_terminal(url, env, "study", "list")
    assert "wide-table" in out and "3/5" in out and "0.9235" in out, out


def test_json_output_is_the_apis_json(server: tuple[str, dict[str, str]]) -> None:
    """The client parses answers into typed values; what `--json` (and `best
    --format json`) print is still the API's JSON, byte for byte."""
    url, env = server
    api = f"{url}/api/v1/studies"
    commands: list[tuple[tuple[str, ...], str]] = [
        (("study", "list", "--json"), f"{api}?limit=100"),
        (("study", "show", "2", "--json"), f"{api}/2"),
        (("leaderboard", "2", "--json"), f"{api}/2/leaderboard?k=10"),
        (("best", "2", "--format", "json"), f"{api}/2/best"),
    ]
    for args, path in commands:
        answer = httpx.get(path, timeout=30).json()
        indent = json.dumps(answer, indent=2, default=str) + "\n"
        assert piped(url, env, *args) == indent, args
    page = httpx.get(f"{api}/2/trials", params={"offset": 0, "limit": 1000}, timeout=30).json()
    items = json.dumps(page["items"], indent=2, default=str) + "\n"
    assert piped(url, env, "trials", "2", "--json") == items


def test_serve_on_a_busy_port_says_so_before_announcing(tmp_path: Path) -> None:
    port = free_port()
    busy = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
    with subprocess.Popen(busy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as other:
        try:
            client = Client(f"http://127.0.0.1:{port}", retries=20, backoff_seconds=0.1)
            try:
                client.request("GET", "/")
            finally:
                client.close()
            env["HPO_DATA_DIR"] = str(tmp_path)
            proc = subprocess.run(hpo_argv("serve", "--port", str(port)), capture_output=True,
                                  text=True, timeout=60, env=env)  # fmt: skip
        finally:
            other.terminate()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"error: port {port} is in use (another hpo serve?): pass --port N\n"
    assert proc.stdout == ""


def test_workers_lists_the_live_workers_through_a_dead_replica_first(
    server: tuple[str, dict[str, str]],
) -> None:
    url, env = server
    client = Client(url, retries=0)
    # Pool a100 has no study here: the claim finds nothing, but the worker is seen.
    assert client.claim("gpu-box-0", host="gpu-box", devices=["cuda:0"], pools=["a100"]) is None
    dead = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(hpo_argv("workers", "--api", f"{dead},{url}"), env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split("\t") == [
        "worker", "host", "pools", "devices", "slots", "trials", "last seen"
    ]  # fmt: skip
    row = next(line.split("\t") for line in lines[1:] if line.startswith("gpu-box-0\t"))
    assert row[:6] == ["gpu-box-0", "gpu-box", "a100", "cuda:0", "1", "idle"]
    listed = json.loads(piped(url, env, "workers", "--json"))
    assert any(w["id"] == "gpu-box-0" and w["pools"] == ["a100"] for w in listed), listed
