"""Load: 64 simulated workers (instant trials: claim, one report, complete) and 10 clients
reading leaderboards, against a real `hpo serve` on PostgreSQL, for --seconds.

    .venv/bin/python bench/load_test.py --seconds 300 [--workers 64] [--readers 10]
        [--samplers random,qmc] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

The server gets a fresh database on that PostgreSQL (dropped afterwards). Workers and readers
are asyncio tasks over httpx in this one process (loopback only); every answer other than 2xx
(or 204: no work) and every transport error counts as an error. The API process's RSS is
sampled every --rss-every seconds. Prints a JSON summary and the Markdown rows of
bench/RESULTS.md ("Under fire"). Bounded: every loop stops at the deadline.

Caveat: the load generator shares the machine's cores with the server, so latencies include
its own scheduling; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hpo.serving import ServeFailed, free_port, start_serve, stop_serve, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Tally:
    claim_seconds: list[float] = field(default_factory=list)
    read_seconds: list[float] = field(default_factory=list)
    completed: int = 0
    empty_claims: int = 0
    reads: int = 0
    errors: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)
    completed_at_rss: list[int] = field(default_factory=list)  # `completed` at each RSS sample


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def spec(i: int, sampler: str) -> dict[str, Any]:
    return {
        "name": f"load-{i}-{sampler}",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": {
            "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
            "width": {"type": "int", "low": 16, "high": 512, "log": True},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
        },
        "sampler": sampler,
        "budget": {"n_trials": 1_000_000, "max_parallel": 4096},
    }


async def worker(
    http: httpx.AsyncClient, name: str, deadline: float, tally: Tally, rng: random.Random
) -> None:
    while time.monotonic() < deadline:
        try:
            started = time.perf_counter()
            response = await http.post("/api/v1/workers/claim", json={"worker_id": name})
            tally.claim_seconds.append(time.perf_counter() - started)
            if response.status_code == 204:
                tally.empty_claims += 1
                await asyncio.sleep(0.05)
                continue
            response.raise_for_status()
            lease = response.json()
            trial, token = lease["trial_id"], lease["lease_token"]
            value = rng.random()
            report = {"lease_token": token, "step": 1, "value": value}
            (await http.post(f"/api/v1/trials/{trial}/reports", json=report)).raise_for_status()
            done = {"lease_token": token, "value": value, "metrics": {}}
            (await http.post(f"/api/v1/trials/{trial}/complete", json=done)).raise_for_status()
            tally.completed += 1
        except (httpx.HTTPError, ValueError, KeyError) as e:
            tally.errors.append(f"{name}: {type(e).__name__}: {e}"[:300])
            await asyncio.sleep(0.1)


async def reader(
    http: httpx.AsyncClient, study_ids: list[int], deadline: float, tally: Tally
) -> None:
    rng = random.Random()
    while time.monotonic() < deadline:
        study = rng.choice(study_ids)
        try:
            started = time.perf_counter()
            board = await http.get(f"/api/v1/studies/{study}/leaderboard", params={"k": 10})
            board.raise_for_status()
            (await http.get(f"/api/v1/studies/{study}")).raise_for_status()
            tally.read_seconds.append(time.perf_counter() - started)
            tally.reads += 1
        except httpx.HTTPError as e:
            tally.errors.append(f"reader: {type(e).__name__}: {e}"[:300])
        await asyncio.sleep(0.2)  # a person's browser polling, a few times a second


async def sample_rss(pid: int, every: float, deadline: float, tally: Tally) -> None:
    process = psutil.Process(pid)
    start = time.monotonic()
    while time.monotonic() < deadline:
        tally.rss.append((time.monotonic() - start, process.memory_info().rss))
        tally.completed_at_rss.append(tally.completed)
        await asyncio.sleep(every)
    tally.rss.append((time.monotonic() - start, process.memory_info().rss))
    tally.completed_at_rss.append(tally.completed)


async def drive(args: argparse.Namespace, url: str, pid: int, study_ids: list[int]) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + args.seconds
    limits = httpx.Limits(max_connections=args.workers + args.readers + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        tasks = [
            worker(http, f"sim-{i}", deadline, tally, random.Random(i)) for i in range(args.workers)
        ]
        tasks += [reader(http, study_ids, deadline, tally) for _ in range(args.readers)]
        tasks.append(sample_rss(pid, args.rss_every, deadline, tally))
        await asyncio.gather(*tasks)
    return tally


def rss_slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope over the second half of the run (after warm-up)."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return float("nan")
    xs = [t for t, _ in half]
    ys = [b / 2**20 for _, b in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--samplers", default="random,qmc")
    parser.add_argument("--rss-every", type=float, default=5.0)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "HPO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()

    admin_url = make_url(args.postgres).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"hpo_load_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = admin_url.set(database=name).render_as_string(hide_password=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        # HPO_DEBUG_* passes through: HPO_DEBUG_TRACEMALLOC turns on the server's memory
        # probe (hpo.debug.memprobe), which this run then reports on.
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("HPO_") or k.startswith("HPO_DEBUG_")
        },
        "HPO_DATABASE_URL": database_url,
        "HPO_LEASE_SECONDS": "60",
    }
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}-serve.log"
    server = start_serve(port, env=env, log=log, cwd=ROOT)
    try:
        try:
            wait_healthy(url, server, request_timeout=2)
        except ServeFailed as e:
            raise SystemExit(f"hpo serve: {e}") from None
        study_ids = [
            httpx.post(f"{url}/api/v1/studies", json=spec(i, s)).json()["id"]
            for i, s in enumerate(args.samplers.split(","))
        ]
        started = time.monotonic()
        tally = asyncio.run(drive(args, url, server.pid, study_ids))
        elapsed = time.monotonic() - started
        server_errors = sum(1 for line in log.read_text().splitlines() if " ERROR " in line)
    finally:
        stop_serve(server, timeout=30)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    rss = [b / 2**20 for _, b in tally.rss]
    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "seconds": round(elapsed, 1),
        "workers": args.workers,
        "readers": args.readers,
        "samplers": args.samplers,
        "trials_completed": tally.completed,
        "trials_per_second": round(tally.completed / elapsed, 1),
        "claims": len(tally.claim_seconds),
        "empty_claims": tally.empty_claims,
        "claim_p50_ms": round(1000 * percentile(tally.claim_seconds, 50), 1),
        "claim_p99_ms": round(1000 * percentile(tally.claim_seconds, 99), 1),
        "claim_max_ms": round(1000 * max(tally.claim_seconds, default=float("nan")), 1),
        "reads": tally.reads,
        "read_p50_ms": round(1000 * percentile(tally.read_seconds, 50), 1),
        "read_p99_ms": round(1000 * percentile(tally.read_seconds, 99), 1),
        "errors": len(tally.errors),
        "first_errors": tally.errors[:5],
        "server_error_log_lines": server_errors,
        "rss_mib_first": round(rss[0], 1) if rss else None,
        "rss_mib_min": round(min(rss), 1) if rss else None,
        "rss_mib_max": round(max(rss), 1) if rss else None,
        "rss_mib_last": round(rss[-1], 1) if rss else None,
        "rss_mib_middle": round(rss[len(rss) // 2], 1) if rss else None,
        "rss_slope_mib_per_min_second_half": round(rss_slope_mib_per_min(tally.rss), 2),
        "rss_kib_per_trial_second_half": _kib_per_trial_second_half(tally),
        "rss_samples_mib": [round(r, 1) for r in rss],
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


def _kib_per_trial_second_half(tally: Tally) -> float | None:
    """RSS growth from the middle sample to the last, per trial completed in between."""
    if len(tally.rss) < 2:
        return None
    middle = len(tally.rss) // 2
    trials = tally.completed_at_rss[-1] - tally.completed_at_rss[middle]
    grown = tally.rss[-1][1] - tally.rss[middle][1]
    return round(grown / 1024 / trials, 2) if trials else None


if __name__ == "__main__":
    main()
