"""`hpo serve` as a child process: start it, wait until it answers `/healthz`, stop it.

One helper for everything that runs a real server: `hpo demo`, the benchmarks (bench/) and
the test harnesses (tests/e2e/_servers.py, tests/faults/_harness.py). Each caller keeps its
own port, environment and log file; a server that exits or never answers raises
`ServeFailed`, which says which (and with what exit code) so the caller can word it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hpo.errors import HpoError


class ServeFailed(HpoError):
    """The server exited (`returncode` set) or did not answer in time (`returncode` None)."""

    def __init__(self, message: str, returncode: int | None) -> None:
        super().__init__(message)
        self.returncode = returncode


def free_port() -> int:
    """A loopback port free right now (the OS's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_argv(*args: str) -> list[str]:
    """`hpo serve ARGS...` with this interpreter (so a venv's hpo, whatever PATH says)."""
    return [sys.executable, "-m", "hpo.cli", "serve", *args]


def start_serve(
    port: int,
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None,
    log: Path,
    append: bool = False,
    cwd: Path | None = None,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `hpo serve --port PORT ARGS...` with stdout and stderr to `log` (appended with
    `append`, so restarts keep one log); `env` None inherits this process's environment.
    `new_session`: its own process group (a terminal's Ctrl-C then reaches only the caller,
    which stops it in order). Does not wait: see `wait_healthy`."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            serve_argv("--port", str(port), *args),
            env=None if env is None else dict(env),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=new_session,
        )


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    timeout: float = 60.0,
    path: str = "/healthz",
    poll: float = 0.2,
    request_timeout: float = 1.0,
    ready: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
) -> None:
    """Poll `url + path` until `ready` says the answer is good (default: a 200). Raises
    ServeFailed when `process` exits first or `timeout` seconds pass. Works for any server
    process (bench/ also runs a baseline that is not hpo)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeFailed(
                f"server exited with code {process.returncode} before answering {path}",
                process.returncode,
            )
        try:
            if ready(httpx.get(f"{url}{path}", timeout=request_timeout)):
                return
        except (httpx.TransportError, ValueError):
            pass  # not listening yet, or an answer `ready` could not read
        time.sleep(poll)
    raise ServeFailed(f"server did not answer {url}{path} within {timeout:.0f} s", None)


def stop_serve(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGINT (uvicorn's graceful shutdown), then SIGKILL if it has not exited in `timeout`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def running_serve(
    args: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None,
    log: Path,
    port: int | None = None,
    timeout: float = 60.0,
    stop_timeout: float = 15.0,
    cwd: Path | None = None,
) -> Iterator[Served]:
    """`hpo serve` on `port` (default: a free one) for the block: started, healthy, then
    stopped (`stop_serve`) however the block ends."""
    port = port or free_port()
    process = start_serve(port, args, env=env, log=log, cwd=cwd)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process, timeout=timeout)
        yield Served(url, port, process)
    finally:
        stop_serve(process, stop_timeout)
