"""hpo.serving, the one helper that starts servers and waits for them: a server that exits
before answering, or never answers, is a ServeFailed that says which."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from hpo.serving import ServeFailed, free_port, stop_serve, wait_healthy


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    stop_serve(process, timeout=5)


def test_a_server_that_exits_first_is_reported_with_its_exit_code() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(ServeFailed) as failed:
        wait_healthy(f"http://127.0.0.1:{free_port()}", process)
    assert failed.value.returncode == 3
    assert "exited with code 3 before answering /healthz" in str(failed.value)


def test_a_server_that_never_answers_times_out(sleeper: subprocess.Popen[bytes]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServeFailed) as failed:
        wait_healthy(url, sleeper, timeout=0.5, poll=0.05)
    assert failed.value.returncode is None
    assert f"did not answer {url}/healthz" in str(failed.value)


def test_stop_interrupts_then_leaves_nothing_running(sleeper: subprocess.Popen[bytes]) -> None:
    stop_serve(sleeper, timeout=5)
    assert sleeper.poll() is not None
