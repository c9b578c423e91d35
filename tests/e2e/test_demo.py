"""`hpo demo` as a user runs it, on a tiny budget (one seed, two trials of one epoch per
sampler): it starts a server and a worker, runs the comparison, prints the leaderboard, the
comparison table and the URL, and leaves no process behind, whether it exits by itself
(--exit) or is stopped with Ctrl-C while it serves."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e._servers import free_port, hpo_argv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = ("--workers", "1", "--trials", "2", "--repeats", "1", "--epochs", "1")


def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    # A token or database in the user's shell must not leak into the demo's server.
    env = {**os.environ, "HPO_CACHE_DIR": str(cache), "COLUMNS": "160"}
    env.update(HPO_API_TOKEN="not-for-the-demo", HPO_DATABASE_URL="sqlite:////nonexistent/x.db")
    # A read token would close the demo server's reads to the demo's own (tokenless) client.
    env.update(HPO_READ_TOKEN="not-for-the-demo-either", HPO_TOKEN="nor-this-one")
    return env


def started_pids(output: str) -> list[int]:
    match = re.search(r"\(pid (\d+), database .*\) and 1 worker\(s\) \(pids (\d+)\)", output)
    assert match is not None, output
    return [int(match.group(1)), int(match.group(2))]


def assert_gone(pids: list[int], port: int) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_demo_exit_prints_the_results_and_stops_everything(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_port()
    data_dir = tmp_path / "demo-data"
    argv = hpo_argv("demo", "--exit", "--port", str(port), "--data-dir", str(data_dir), *TINY)
    proc = subprocess.run(argv, env=demo_env(tmp_path_factory), capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "hpo demo: grid, random, tpe, lipo x 1 seed(s) x 2 trials" in out
    assert f"started hpo serve on http://127.0.0.1:{port}" in out
    assert f"web page: http://127.0.0.1:{port}/" in out
    assert "leaderboard: the top 10 trials of comparison 1" in out
    assert "comparison 1 demo: best val_accuracy (maximize), 2 trials x 1 seeds" in out
    for sampler in ("grid", "random", "tpe", "lipo"):
        assert re.search(rf"\s{sampler}\s+2/2\s+0\.\d{{3}}", out), (sampler, out)
    assert "hpo train best.yaml --final" in out
    assert out.rstrip().endswith("stopped the server and the workers")
    assert_gone(started_pids(out), port)
    assert (data_dir / "hpo.db").is_file() and (data_dir / "worker-1.log").is_file()


def test_demo_serves_until_ctrl_c(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    argv = hpo_argv("demo", "--port", str(port), "--data-dir", str(tmp_path / "d"), *TINY)
    log = tmp_path / "demo.out"
    with log.open("w") as out_file:
        demo = subprocess.Popen(argv, env=demo_env(tmp_path_factory), stdout=out_file,
                                stderr=subprocess.STDOUT, cwd=tmp_path)  # fmt: skip
        deadline = time.monotonic() + 240
        while f"serving http://127.0.0.1:{port}/ until Ctrl-C" not in log.read_text():
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        # Still up after the comparison: the API answers and the comparison is there.
        view = httpx.get(f"http://127.0.0.1:{port}/api/v1/comparisons/1").json()
        assert view["state"] == "completed" and view["n_finished"] == 8
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, log.read_text()
    output = log.read_text()
    assert "stopping the workers and the server" in output
    assert_gone(started_pids(output), port)


def test_demo_refuses_a_busy_port(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    port = free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as busy:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            argv = hpo_argv("demo", "--exit", "--port", str(port), "--data-dir", str(tmp_path))
            proc = subprocess.run(argv, env=demo_env(tmp_path_factory), capture_output=True,
                                  text=True, timeout=60)  # fmt: skip
        finally:
            busy.terminate()
    assert proc.returncode == 2
    assert proc.stderr == f"error: port {port} is in use (another hpo serve?): pass --port N\n"


def test_demo_fails_when_its_workers_die(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    port = free_port()
    argv = hpo_argv("demo", "--port", str(port), "--data-dir", str(tmp_path / "d"), *TINY)
    log = tmp_path / "demo.out"
    with log.open("w") as out_file:
        demo = subprocess.Popen(argv, env=demo_env(tmp_path_factory), stdout=out_file,
                                stderr=subprocess.STDOUT, cwd=tmp_path)  # fmt: skip
        deadline = time.monotonic() + 120
        while "worker(s) (pids" not in log.read_text():
            assert demo.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        server_pid, worker_pid = started_pids(log.read_text())
        os.kill(worker_pid, signal.SIGKILL)
        # No worker left: the demo says so and stops, instead of waiting forever.
        assert demo.wait(timeout=120) == 2, log.read_text()
    output = log.read_text()
    assert "error: worker-1 exited with code -9" in output, output
    assert_gone([server_pid, worker_pid], port)


def closing_command(output: str, needle: str) -> str:
    lines = [line.strip() for line in output.splitlines() if needle in line]
    assert lines, (needle, output)
    return lines[-1]


def test_demo_closing_commands_work_as_printed(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A short demo with --exit (two samplers, one epoch); then what its closing lines say to
    type, typed in a shell without the demo's environment: reopen the database, fetch the
    winner's config, retrain it."""
    port = free_port()
    argv = hpo_argv("demo", "--exit", "--port", str(port), "--data-dir", "demo-data",
                    "--samplers", "random,tpe", "--workers", "1", "--trials", "2",
                    "--repeats", "2", "--epochs", "1")  # fmt: skip
    proc = subprocess.run(argv, env=demo_env(tmp_path_factory), capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    # The winner was retrained: its test accuracy is in the comparison's final column.
    assert "test (final)" in out and "test_accuracy 0." in out, out
    assert re.search(r"ranking: .*(within noise|leads beyond the noise) at 2 seeds", out), out
    assert "the server has stopped" in out
    serve = closing_command(out, " serve --database-url ")
    assert "sqlite:///demo-data/hpo.db" in serve and f"--port {port}" in serve
    retrain = closing_command(out, "> best.yaml && ")
    # A user's shell: no hpo token or database of the demo's making.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
    env["HPO_CACHE_DIR"] = demo_env(tmp_path_factory)["HPO_CACHE_DIR"]
    with subprocess.Popen(shlex.split(serve), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as server:  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None and time.monotonic() < deadline
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            page = closing_command(out, "its web page: ").split("its web page: ")[1]
            assert httpx.get(page, timeout=10).status_code == 200
            view = httpx.get(f"http://127.0.0.1:{port}/api/v1/comparisons/1", timeout=10).json()
            assert view["state"] == "completed"
            assert [r["test_metric"] is not None for r in view["results"]] == [True, False]
            done = subprocess.run(["bash", "-c", retrain], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    assert "model:" in (tmp_path / "best.yaml").read_text()
    assert "test accuracy" in done.stdout + done.stderr
