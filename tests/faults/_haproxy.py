"""HAProxy on loopback in front of `hpo serve` replicas, for the replica tests and
bench/replicas.py: Debian's package, our own generated config, one process per use.

HAProxy checks each replica's /healthz every 300 ms and takes a dead one out after two failed
checks; a request whose connection to a dead replica fails is sent to another (`retries`,
`option redispatch`). What it cannot save is a request a replica accepted and then died
holding: the worker's client retries that one (hpo.client), and the API treats a repeated
complete as a no-op.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hpo.serving import free_port


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )


def require_haproxy() -> str:
    """The haproxy binary, or skip with the reason (fail where HPO_TEST_REQUIRE_HAPROXY=1:
    CI installs it, and a skipped test there would hide a regression)."""
    import pytest

    binary = haproxy_binary()
    if binary is None:
        reason = "haproxy is not installed (apt-get install haproxy): the replica tests need it"
        if os.environ.get("HPO_TEST_REQUIRE_HAPROXY") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def haproxy_config(port: int, backends: Sequence[int]) -> str:
    """A config for `port` on loopback, round-robin over the replicas on `backends`."""
    servers = "\n".join(
        f"    server api{i} 127.0.0.1:{p} check inter 300ms fall 2 rise 1"
        for i, p in enumerate(backends)
    )
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    # A busy replica may take a while to answer /healthz (2 cores, 64 workers): a slow
    # answer is not a dead replica. A dead one refuses the connection, and is out at once.
    timeout check 5s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    option http-keep-alive

frontend hpo
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /healthz
{servers}
"""


@dataclass(frozen=True)
class Haproxy:
    url: str
    pid: int


@contextmanager
def haproxy(workdir: Path, backends: Sequence[int], binary: str) -> Iterator[Haproxy]:
    """HAProxy in front of `backends` (ports); yields its URL and pid once it answers."""
    port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(port, backends))
    log = (workdir / "haproxy.log").open("ab")
    process = subprocess.Popen(
        [binary, "-db", "-f", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {(workdir / 'haproxy.log').read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not answer /healthz within 30 s")
            time.sleep(0.1)
        yield Haproxy(url, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
