"""Shared by the service benchmarks (`suggest_path.py`, `dispatch_throughput.py`): throwaway
PostgreSQL databases, an `hpo serve` subprocess, percentiles, the machine line.

Not a benchmark itself; the scripts import it from their own folder.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hpo.bench.harness import machine_meta
from hpo.serving import free_port, serve_argv, stop_serve, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "HPO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

# The 6-D mixed space of the figures (and of bench/sampler_latency.py's problem size).
SPACE: dict[str, dict[str, object]] = {
    "lr": {"type": "float", "low": 1.0e-5, "high": 1.0e-1, "log": True},
    "batch_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
    "depth": {"type": "int", "low": 1, "high": 4},
    "width": {"type": "int", "low": 16, "high": 512, "log": True},
    "activation": {"type": "categorical", "choices": ["relu", "leaky_relu", "tanh", "gelu"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


def objective(params: dict[str, object]) -> float:
    """A cheap deterministic value for a configuration (the benchmarks time dispatch, not
    training)."""
    lr = float(params["lr"])  # type: ignore[arg-type]
    dropout = float(params["dropout"])  # type: ignore[arg-type]
    width = float(params["width"])  # type: ignore[arg-type]
    depth = float(params["depth"])  # type: ignore[arg-type]
    act = {"relu": 0.0, "leaky_relu": 0.01, "tanh": 0.05, "gelu": 0.02}[str(params["activation"])]
    bs = {32: 0.01, 64: 0.0, 128: 0.005, 256: 0.02}[int(params["batch_size"])]  # type: ignore[call-overload]
    return (
        float((np.log10(lr) + 3.0) ** 2 + (dropout - 0.2) ** 2 + (np.log2(width) - 7.0) ** 2 / 10)
        + (depth - 2.0) ** 2 / 10
        + act
        + bs
    )


@contextmanager
def postgres_database(tag: str) -> Iterator[str]:
    """A fresh database `hpo_bench_<tag>_<random>` on the bench PostgreSQL; dropped on exit.
    Yields its SQLAlchemy URL (psycopg 3)."""
    admin_url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    name = f"hpo_bench_{tag}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def server_process(
    argv: Sequence[str], *, health: str, env: dict[str, str] | None = None, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start a server (argv gets `--port P` appended), wait for `health`, yield (url, proc);
    SIGINT then kill on exit."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=out,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, process, path=health, timeout=60)
            yield url, process
        finally:
            stop_serve(process, timeout=15)


@contextmanager
def hpo_serve(
    database_url: str, *, log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`hpo serve --database-url URL` as a subprocess (migrates on start)."""
    argv = serve_argv("--database-url", database_url)
    with server_process(argv, health="/healthz", env=env, log=log) as served:
        yield served


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def machine_line() -> str:
    meta = machine_meta()
    return f"{meta['date']} on {meta['cpu']} ({meta['cores']} cores)"
