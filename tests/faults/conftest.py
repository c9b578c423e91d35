"""Databases for the fault tests.

`pg_url`: a database of the test's own on the shared PostgreSQL (127.0.0.1:5432, or
`HPO_TEST_POSTGRES_URL`), dropped at the end. `private_pg`: a PostgreSQL cluster of the test's
own (initdb into a temporary folder, its own port and socket folder, run as the `postgres` OS
user), which the test may stop and start: the shared cluster is never restarted.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from tests.faults._harness import free_port

PG_ADMIN_URL = os.environ.get(
    "HPO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _unavailable(reason: str) -> None:
    if os.environ.get("HPO_TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"hpo_faults_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except sa_exc.OperationalError as e:
        admin.dispose()
        _unavailable(f"PostgreSQL not reachable at {url.render_as_string(hide_password=True)}: {e}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class PrivatePostgres:
    """A throwaway cluster: `stop()` and `start()` it at will."""

    bin_dir: Path
    data_dir: Path
    socket_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/hpo"

    def _as_postgres(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
            "-l", str(self.data_dir / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast`: a clean shutdown; `immediate`: like a crash (recovery on the next start)."""
        self._as_postgres(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode,
                          "-w", "stop")  # fmt: skip


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None or shutil.which("runuser") is None or os.geteuid() != 0:
        _unavailable("a private PostgreSQL needs initdb, runuser and root (to run as postgres)")
        return
    # Under /tmp itself: pytest's tmp_path is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="hpo-private-pg-"))
    shutil.chown(root, "postgres", "postgres")
    cluster = PrivatePostgres(bin_dir, root / "data", root, free_port())
    try:
        cluster._as_postgres(
            str(bin_dir / "initdb"), "-D", str(cluster.data_dir), "-U", "postgres",
            "-A", "trust", "--no-sync", timeout=120,
        )  # fmt: skip
        with (cluster.data_dir / "postgresql.conf").open("a") as conf:
            # Small and quick: this cluster lives for one test.
            conf.write("fsync = off\nshared_buffers = 32MB\nmax_connections = 50\n")
        cluster.start()
        cluster._as_postgres(
            str(bin_dir / "createdb"), "-h", str(cluster.socket_dir), "-p", str(cluster.port),
            "-U", "postgres", "hpo",
        )  # fmt: skip
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop("immediate")
        for _ in range(20):
            try:
                shutil.rmtree(root)
                break
            except OSError:
                time.sleep(0.2)
