"""Helpers shared by the end-to-end tests: run `hpo` as a real process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hpo.serving import ServeFailed, start_serve, stop_serve, wait_healthy
from hpo.serving import free_port as free_port  # the tests import it from here


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
    process = start_serve(port, env=env, log=tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, process, timeout=30)
        except ServeFailed:
            pytest.fail(f"hpo serve did not start: {(tmp_path / 'serve.log').read_text()}")
        yield url, env
    finally:
        stop_serve(process, timeout=15)
