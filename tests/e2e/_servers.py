"""Helpers shared by the end-to-end tests: run `hpo` as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hpo_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpo.cli", *args]


@contextmanager
def running_server(
    tmp_path: Path,
    cache_dir: Path,
    *,
    lease_seconds: float,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """`hpo serve` on a free loopback port with its own SQLite database; yields (url, env).
    `extra_env` adds settings (tokens) to the server's environment."""
    port = free_port()
    env = {
        **os.environ,
        "HPO_DATA_DIR": str(tmp_path / "data"),
        "HPO_CACHE_DIR": str(cache_dir),
        "HPO_LEASE_SECONDS": str(lease_seconds),
        "HPO_REAPER_INTERVAL_SECONDS": "0.5",
        **(extra_env or {}),
    }
    log = (tmp_path / "serve.log").open("wb")
    argv = hpo_argv("serve", "--port", str(port))
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"hpo serve did not start: {(tmp_path / 'serve.log').read_text()}")
    try:
        yield url, env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
