"""A real `hpo serve` for the hostile fuzz test: its own SQLite file or PostgreSQL database,
admin, worker and read tokens set, a few studies of different samplers and some leased trials,
so the fuzzer has ids and lease tokens to aim at."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from hpo.serving import ServeFailed, free_port, start_serve, stop_serve, wait_healthy

PG_ADMIN_URL = os.environ.get(
    "HPO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TOKENS = {"admin": "fuzz-admin-token", "worker": "fuzz-worker-token", "read": "fuzz-read-token"}
SAMPLERS = ("random", "tpe", "lipo", "qmc")


@dataclass
class FuzzServer:
    backend: str
    url: str
    client: httpx.Client
    log: Path
    log_offset: int = 0
    study_ids: list[int] = field(default_factory=list)
    leases: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def spec(variant: int) -> dict[str, Any]:
        return {
            "name": f"fuzz-{SAMPLERS[variant % len(SAMPLERS)]}",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
            "space": {
                "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                "width": {"type": "int", "low": 8, "high": 64},
                "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
            },
            "fixed": {"optimizer": "adam"},
            "sampler": {"name": SAMPLERS[variant % len(SAMPLERS)], "options": {}},
            "budget": {"n_trials": 50, "max_parallel": 50},
        }

    @staticmethod
    def comparison_spec() -> dict[str, Any]:
        spec = FuzzServer.spec(0)
        return {
            "name": "fuzz-comparison",
            "task": spec["task"],
            "space": spec["space"],
            "samplers": [{"name": "random", "options": {}}],
            "n_trials": 3,
            "repeats": 1,
        }

    def new_error(self) -> str:
        """The last exception line the server logged since the previous call ("" if none);
        the traceback may land just after the answer, hence one short wait."""
        for _ in range(5):
            if self.log.stat().st_size > self.log_offset:
                break
            time.sleep(0.05)
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            raw = log.read()
        self.log_offset += len(raw)
        new = raw.decode("utf-8", "replace")
        errors = [
            line for line in new.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)
        ]
        return errors[-1][:300] if errors else ""

    def requests_counted(self) -> float | None:
        """The server's own count of HTTP requests (`hpo_http_requests_total`, summed over its
        labels), or None when /metrics does not say."""
        answer = self.client.get("/metrics", headers=_auth("read"))
        if answer.status_code != 200:
            return None
        lines = [
            line for line in answer.text.splitlines() if line.startswith("hpo_http_requests_total")
        ]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines) if lines else None


def _auth(scope: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[scope]}"}


@contextmanager
def _database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'hpo.db'}"
        return
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"hpo_fuzz_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except sa_exc.OperationalError as e:
        admin.dispose()
        reason = f"PostgreSQL not reachable: {e}"
        if os.environ.get("HPO_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _seed(server: FuzzServer) -> None:
    for variant in range(len(SAMPLERS)):
        created = server.client.post(
            "/api/v1/studies", json=server.spec(variant), headers=_auth("admin")
        )
        created.raise_for_status()
        server.study_ids.append(int(created.json()["id"]))
    for i in range(6):
        claim = server.client.post(
            "/api/v1/workers/claim", json={"worker_id": f"seed-{i}"}, headers=_auth("worker")
        )
        claim.raise_for_status()
        server.leases.append(claim.json())


@contextmanager
def hostile_server(backend: str, tmp_path: Path) -> Iterator[FuzzServer]:
    """`hpo serve` on `backend` with all three tokens; yields it seeded; stops it (SIGINT)."""
    with _database(backend, tmp_path) as database_url:
        port = free_port()
        env = {
            **os.environ,
            "HPO_DATA_DIR": str(tmp_path / "data"),
            "HPO_API_TOKEN": TOKENS["admin"],
            "HPO_WORKER_TOKEN": TOKENS["worker"],
            "HPO_READ_TOKEN": TOKENS["read"],
            "HPO_LEASE_SECONDS": "600",
        }
        log_path = tmp_path / "serve.log"
        process = start_serve(port, ["--database-url", database_url], env=env, log=log_path)
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=url, timeout=60)
        try:
            try:
                wait_healthy(url, process)
            except ServeFailed:
                pytest.fail(f"hpo serve did not start: {log_path.read_text()[-2000:]}")
            server = FuzzServer(backend, url, client, log_path)
            _seed(server)
            yield server
        finally:
            client.close()
            stop_serve(process, timeout=15)
