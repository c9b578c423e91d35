"""Dispatch throughput with 1, 2 and 3 `hpo serve` replicas behind HAProxy, on PostgreSQL, in
one run: 64 simulated workers (threads of this process, one keep-alive connection each,
instant trials, random sampler, as `hpo worker` speaks: one `complete-and-claim` per trial).

    .venv/bin/python bench/replicas.py [--seconds 30] [--workers 64] [--segments 2]

Each configuration has its own fresh database on the same PostgreSQL and its own HAProxy
(round-robin, health-checked, tests/faults/_haproxy.py); all three are up for the whole run
and measured in alternating slices (1, 2, 3, 1, 2, 3...) so that a neighbour's load hits all
alike. Reported per configuration: trials/s, latency of the request that brought each lease
(claim or complete-and-claim) p50/p99, CPU milliseconds per trial of the replicas together
and of HAProxy, and the database work per trial from pg_stat_database (transactions, rows
read and written).

On a 2-core machine the replicas, HAProxy, PostgreSQL and the 64 client threads share the
same two cores: more replicas cannot run faster there, so the figures measure the overhead
of the load balancer and of replicas contending on one database, not a speed-up.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _service_bench import hpo_serve, machine_line, pct, postgres_database  # noqa: E402
from dispatch_throughput import Tally, cpu_seconds, create_study, load, ours_worker  # noqa: E402

from tests.faults._haproxy import haproxy, haproxy_binary  # noqa: E402

_DB_COUNTERS = ("xact_commit", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")


@dataclass
class Setup:
    replicas: int
    url: str
    database: str
    pids: list[int]
    haproxy_pid: int
    tally: Tally = field(default_factory=Tally)
    replica_cpu_s: float = 0.0
    haproxy_cpu_s: float = 0.0
    db: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_DB_COUNTERS, 0))


def database_counters(database_url: str) -> dict[str, int]:
    """This database's counters in pg_stat_database (transactions, tuples)."""
    url = make_url(database_url)
    engine = create_engine(url.set(database="postgres"))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_stat_force_next_flush()"))
            row = connection.execute(
                text(f"SELECT {', '.join(_DB_COUNTERS)} FROM pg_stat_database WHERE datname = :n"),
                {"n": url.database},
            ).one()
        return {name: int(value) for name, value in zip(_DB_COUNTERS, row, strict=True)}
    finally:
        engine.dispose()


def measure(setup: Setup, workers: int, seconds: float, tag: str) -> float:
    """One slice on `setup`; returns its trials/s."""
    cpu = [cpu_seconds(pid) for pid in setup.pids]
    proxy_cpu = cpu_seconds(setup.haproxy_pid)
    time.sleep(1.0)  # counters of the previous slice's last transactions reach the view
    before = database_counters(setup.database)
    done, spent = setup.tally.done, setup.tally.seconds
    load(ours_worker, setup.url, workers, seconds, setup.tally, tag)
    time.sleep(1.0)
    after = database_counters(setup.database)
    for name in _DB_COUNTERS:
        setup.db[name] += after[name] - before[name]
    setup.replica_cpu_s += sum(cpu_seconds(pid) for pid in setup.pids) - sum(cpu)
    setup.haproxy_cpu_s += cpu_seconds(setup.haproxy_pid) - proxy_cpu
    return (setup.tally.done - done) / (setup.tally.seconds - spent)


def table(setups: list[Setup]) -> list[str]:
    lines = [
        "| replicas | trials/s | vs 1 | lease p50 ms | p99 ms | errors | replicas CPU ms/trial "
        "| HAProxy CPU ms/trial | DB xacts/trial | rows read/trial | rows written/trial |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = setups[0].tally.done / setups[0].tally.seconds
    for s in setups:
        t = s.tally
        trials = max(t.done, 1)
        rate = t.done / t.seconds
        read = (s.db["tup_returned"] + s.db["tup_fetched"]) / trials
        written = (s.db["tup_inserted"] + s.db["tup_updated"]) / trials
        lines.append(
            f"| {s.replicas} | {rate:.1f} | {rate / base:.2f} | {pct(t.latencies_ms, 50):.1f} | "
            f"{pct(t.latencies_ms, 99):.1f} | {t.errors} | {s.replica_cpu_s * 1e3 / trials:.2f} | "
            f"{s.haproxy_cpu_s * 1e3 / trials:.2f} | {s.db['xact_commit'] / trials:.2f} | "
            f"{read:.1f} | {written:.1f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured per configuration")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--segments", type=int, default=2, help="alternating slices of each")
    parser.add_argument("--replicas", default="1,2,3", help="the configurations")
    parser.add_argument("--out", type=Path, default=Path("bench/out/replicas"))
    args = parser.parse_args()
    binary = haproxy_binary()
    if binary is None:
        sys.exit("bench/replicas.py: haproxy is not installed (apt-get install haproxy)")
    counts = [int(n) for n in args.replicas.split(",")]
    setups: list[Setup] = []
    with ExitStack() as stack:
        for n in counts:
            database = stack.enter_context(postgres_database(f"replicas{n}"))
            served: list[Any] = []
            for i in range(n):
                log = args.out / f"{n}-replicas" / f"serve{i}.log"
                served.append(stack.enter_context(hpo_serve(database, log=log)))
            workdir = args.out / f"{n}-replicas"
            ports = [int(url.rsplit(":", 1)[1]) for url, _ in served]
            proxy = stack.enter_context(haproxy(workdir, ports, binary))
            url = proxy.url
            setups.append(Setup(n, url, database, [p.pid for _, p in served], proxy.pid))
            create_study(url, args.workers)
            load(ours_worker, url, args.workers, 2.0, Tally(), f"warm{n}")  # connections, caches
        slice_s = args.seconds / args.segments
        for segment in range(args.segments):
            for setup in setups:
                rate = measure(setup, args.workers, slice_s, f"r{setup.replicas}s{segment}")
                print(f"segment {segment + 1}, {setup.replicas} replicas: {rate:.1f}/s", flush=True)
        errors = [e for s in setups for e in s.tally.first_errors]
    lines = [
        machine_line(),
        f"{args.workers} worker threads, {args.seconds:.0f} s per configuration in "
        f"{args.segments} alternating slices; HAProxy round-robin on loopback; PostgreSQL "
        "on 127.0.0.1; random sampler, one study",
        "",
        *table(setups),
    ]
    if errors:
        lines += ["", "first errors:", *errors[:5]]
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
