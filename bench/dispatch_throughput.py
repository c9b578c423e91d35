"""Dispatch throughput: N simulated workers (threads, one httpx connection each; instant trials,
random sampler) against `hpo serve` on PostgreSQL for a bounded time, against a trivial FastAPI
app that inserts one row in PostgreSQL per request, served the same way, in the same run.

    .venv/bin/python bench/dispatch_throughput.py [--seconds 60] [--workers 32] [--segments 2]

Ours is measured two ways: as `hpo worker` speaks (one `complete-and-claim` request per
trial: the result and the next lease), and with the two separate requests `claim` then
`complete`. Each worker of the baseline loops `POST /insert` (1 request, 1 INSERT + COMMIT).
Both servers are subprocesses on 127.0.0.1 with uvicorn (one process, sync routes in its
thread pool), on their own fresh databases of the same PostgreSQL. `--seconds` is the
measured time of each side, split into `--segments` alternating slices (baseline, ours,
ours separate, baseline...) so that a neighbour's load hits all alike. The ratio is ours
trials/s over the baseline's requests/s (target >= 0.5).

The clients are threads of this one Python process: on a 2-core machine they share the CPU
with the server, for both sides alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _service_bench import (
    SPACE,
    hpo_serve,
    machine_line,
    objective,
    pct,
    postgres_database,
    server_process,
)

# -- the baseline server -----------------------------------------------------------------------


class Row(BaseModel):
    """The baseline's request body (module level: FastAPI resolves the annotation by name)."""

    worker: str
    value: float


def serve_baseline(database_url: str, port: int) -> None:
    """The trivial app: `POST /insert` inserts one row and commits; same engine settings as
    hpo (psycopg 3, hpo's `create_engine_for`), same uvicorn, sync route."""
    import uvicorn
    from fastapi import FastAPI
    from sqlalchemy import text

    from hpo.storage import create_engine_for

    engine = create_engine_for(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS bench_rows (id BIGSERIAL PRIMARY KEY, "
                "worker TEXT NOT NULL, value DOUBLE PRECISION, "
                "created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        )
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/insert")
    def insert(row: Row) -> dict[str, int]:
        with engine.begin() as connection:
            new_id = connection.execute(
                text("INSERT INTO bench_rows (worker, value) VALUES (:w, :v) RETURNING id"),
                {"w": row.worker, "v": row.value},
            ).scalar_one()
        return {"id": int(new_id)}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Tally:
    done: int = 0  # trials (ours) or rows (baseline)
    requests: int = 0
    empty: int = 0  # 204 from claim
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # claim (ours) or insert
    first_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu_s: float = 0.0  # CPU time of the server process (user + system) while loaded

    def record(self, ms: float, response: httpx.Response, what: str) -> None:
        """One request that brings a result (call under the lock)."""
        self.requests += 1
        self.latencies_ms.append(ms)
        if response.status_code == 200:
            self.done += 1
        else:
            self.error(f"{what} {response.status_code}: {response.text[:200]}")

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(message)


def ours_worker(url: str, name: str, deadline: float, tally: Tally, lock: threading.Lock) -> None:
    """claim, then complete-and-claim per trial (as `hpo worker` does); claim again only when
    the combined request found no work. Latency recorded: of the request that brought the
    lease."""
    with httpx.Client(base_url=url, timeout=30) as http:
        lease: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            try:
                if lease is None:
                    t0 = time.perf_counter()
                    r = http.post("/api/v1/workers/claim", json={"worker_id": name})
                    claim_ms = (time.perf_counter() - t0) * 1e3
                    with lock:
                        tally.requests += 1
                        tally.latencies_ms.append(claim_ms)
                        if r.status_code == 204:
                            tally.empty += 1
                        elif r.status_code != 200:
                            tally.error(f"claim {r.status_code}: {r.text[:200]}")
                    if r.status_code == 200:
                        lease = r.json()
                    continue
                body = {
                    "lease_token": lease["lease_token"],
                    "value": objective(lease["params"]),
                    "worker_id": name,
                }
                t0 = time.perf_counter()
                c = http.post(f"/api/v1/trials/{lease['trial_id']}/complete-and-claim", json=body)
                ms = (time.perf_counter() - t0) * 1e3
                with lock:
                    tally.record(ms, c, "complete-and-claim")
                lease = c.json()["next"] if c.status_code == 200 else None
            except httpx.HTTPError as e:
                lease = None
                with lock:
                    tally.error(f"{type(e).__name__}: {e}")
        if lease is not None:  # leave nothing running for the next slice (not counted)
            body = {"lease_token": lease["lease_token"], "value": objective(lease["params"])}
            http.post(f"/api/v1/trials/{lease['trial_id']}/complete", json=body)


def ours_separate_worker(
    url: str, name: str, deadline: float, tally: Tally, lock: threading.Lock
) -> None:
    """claim -> complete: two requests per trial. Latency recorded: of the claim."""
    with httpx.Client(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            try:
                t0 = time.perf_counter()
                r = http.post("/api/v1/workers/claim", json={"worker_id": name})
                claim_ms = (time.perf_counter() - t0) * 1e3
                if r.status_code == 204:
                    with lock:
                        tally.requests += 1
                        tally.empty += 1
                        tally.latencies_ms.append(claim_ms)
                    continue
                if r.status_code != 200:
                    with lock:
                        tally.requests += 1
                        tally.error(f"claim {r.status_code}: {r.text[:200]}")
                    continue
                lease = r.json()
                c = http.post(
                    f"/api/v1/trials/{lease['trial_id']}/complete",
                    json={"lease_token": lease["lease_token"], "value": objective(lease["params"])},
                )
                with lock:
                    tally.requests += 2
                    tally.latencies_ms.append(claim_ms)
                    if c.status_code == 200:
                        tally.done += 1
                    else:
                        tally.error(f"complete {c.status_code}: {c.text[:200]}")
            except httpx.HTTPError as e:
                with lock:
                    tally.error(f"{type(e).__name__}: {e}")


def baseline_worker(
    url: str, name: str, deadline: float, tally: Tally, lock: threading.Lock
) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            try:
                t0 = time.perf_counter()
                r = http.post("/insert", json={"worker": name, "value": float(i)})
                ms = (time.perf_counter() - t0) * 1e3
                with lock:
                    tally.record(ms, r, "insert")
            except httpx.HTTPError as e:
                with lock:
                    tally.error(f"{type(e).__name__}: {e}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    target: Any, url: str, workers: int, seconds: float, tally: Tally, tag: str, pid: int = 0
) -> None:
    """`workers` threads running `target` for `seconds`; adds to `tally`, and the CPU time
    the server process `pid` spent meanwhile."""
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=target, args=(url, f"{tag}-{i}", deadline, tally, lock))
        for i in range(workers)
    ]
    t0, cpu0 = time.perf_counter(), cpu_seconds(pid)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    tally.seconds += time.perf_counter() - t0
    tally.server_cpu_s += cpu_seconds(pid) - cpu0


def create_study(url: str, workers: int) -> int:
    spec = {
        "name": "bench-dispatch",
        "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 1, "metric": "val_loss"},
        "space": SPACE,
        "sampler": {"name": "random"},
        # Never reached in a run; at most the server's default cap (HPO_MAX_TRIALS_PER_STUDY).
        "budget": {"n_trials": 100_000, "max_parallel": max(workers, 1) * 4},
        "seed": 0,
    }
    r = httpx.post(f"{url}/api/v1/studies", json=spec, timeout=30)
    r.raise_for_status()
    return int(r.json()["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per side")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--segments", type=int, default=2, help="alternating slices per side")
    parser.add_argument("--out", type=Path, default=Path("bench/out/dispatch_throughput"))
    parser.add_argument(
        "--compare-gzip",
        action="store_true",
        help="instead: ours with gzip on (HPO_GZIP_MIN_BYTES=1024) against ours with it off "
        "(0), alternating slices, clients sending Accept-Encoding: gzip (httpx's default)",
    )
    parser.add_argument("--serve-baseline", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.port)
        return
    if args.compare_gzip:
        compare_gzip(args)
        return

    ours, separate, base = Tally(), Tally(), Tally()
    per_segment: list[str] = []
    slice_s = args.seconds / args.segments
    baseline_argv = [sys.executable, str(Path(__file__).resolve()), "--serve-baseline"]
    with (
        postgres_database("dispatch") as ours_url,
        postgres_database("insert") as base_url,
        hpo_serve(ours_url, log=args.out / "serve.log") as (url, ours_process),
        server_process(
            [*baseline_argv, base_url], health="/healthz", log=args.out / "baseline.log"
        ) as (base_http, base_process),
    ):
        study_id = create_study(url, args.workers)
        load(ours_worker, url, args.workers, 2.0, Tally(), "warm")  # connections, caches
        load(baseline_worker, base_http, args.workers, 2.0, Tally(), "warm")
        for segment in range(args.segments):
            for name, target, server, tally, pid in (
                ("baseline", baseline_worker, base_http, base, base_process.pid),
                ("ours", ours_worker, url, ours, ours_process.pid),
                ("ours-separate", ours_separate_worker, url, separate, ours_process.pid),
            ):
                before_done, before_s = tally.done, tally.seconds
                load(target, server, args.workers, slice_s, tally, f"{name}{segment}", pid)
                rate = (tally.done - before_done) / (tally.seconds - before_s)
                line = f"segment {segment + 1} {name}: {rate:.1f}/s"
                per_segment.append(line)
                print(line, flush=True)
        study = httpx.get(f"{url}/api/v1/studies/{study_id}", timeout=30).json()

    base_rate = max(base.done, 1) / base.seconds
    base_requests = base.requests / base.seconds

    def row(label: str, t: Tally, empty: str) -> str:
        return (
            f"| {label} | {t.done / t.seconds:.1f} | {t.requests / t.seconds:.1f} | "
            f"{pct(t.latencies_ms, 50):.1f} | {pct(t.latencies_ms, 99):.1f} | {t.errors} | "
            f"{empty} | {t.server_cpu_s * 1e3 / max(t.requests, 1):.2f} |"
        )

    ours_rate, separate_rate = ours.done / ours.seconds, separate.done / separate.seconds
    lines = [
        machine_line(),
        f"{args.workers} worker threads, {args.seconds:.0f} s per side in {args.segments} "
        "alternating slices; loopback; PostgreSQL 127.0.0.1",
        "",
        "| server | done/s | requests/s | p50 ms | p99 ms | errors | 204s "
        "| server CPU ms/request |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        row(
            "ours as `hpo worker` speaks: complete-and-claim (trials/s; latency of the request "
            "bringing the lease)",
            ours,
            str(ours.empty),
        ),
        row(
            "ours, separate requests: claim + complete (trials/s; latency of claim)",
            separate,
            str(separate.empty),
        ),
        row("trivial FastAPI insert (rows/s; latency of insert)", base, "-"),
        "",
        f"ours trials/s / baseline requests/s: {ours_rate / base_rate:.2f} (target >= 0.5): "
        + ("met" if ours_rate / base_rate >= 0.5 else "MISSED"),
        f"ours with separate requests, trials/s / baseline requests/s: "
        f"{separate_rate / base_rate:.2f}; requests/s / baseline requests/s: "
        f"{separate.requests / separate.seconds / base_requests:.2f}",
        f"study at the end: {study.get('counts')}",
        "",
        *per_segment,
    ]
    errors = ours.first_errors + separate.first_errors + base.first_errors
    if errors:
        lines += ["", "first errors:", *errors]
    report = "\n".join(lines)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dispatch_throughput.md").write_text(report + "\n")


def compare_gzip(args: argparse.Namespace) -> None:
    """Two `hpo serve`s, identical but for HPO_GZIP_MIN_BYTES, on fresh databases of the same
    PostgreSQL; complete-and-claim workers on each in alternating slices."""
    on, off = Tally(), Tally()
    per_segment: list[str] = []
    slice_s = args.seconds / args.segments
    with (
        postgres_database("gzip_on") as on_url,
        postgres_database("gzip_off") as off_url,
        hpo_serve(
            on_url, log=args.out / "serve_gzip_on.log", env={"HPO_GZIP_MIN_BYTES": "1024"}
        ) as (on_http, on_process),
        hpo_serve(
            off_url, log=args.out / "serve_gzip_off.log", env={"HPO_GZIP_MIN_BYTES": "0"}
        ) as (off_http, off_process),
    ):
        sizes = {}
        for url in (on_http, off_http):
            create_study(url, args.workers)
            load(ours_worker, url, args.workers, 2.0, Tally(), "warm")
        for name, url in (("on", on_http), ("off", off_http)):
            r = httpx.post(f"{url}/api/v1/workers/claim", json={"worker_id": "size"}, timeout=30)
            sizes[name] = (len(r.content), r.headers.get("content-encoding", "identity"))
        ratios: list[float] = []
        for segment in range(args.segments):
            # Which goes first alternates too, so neither always follows the other.
            order = [("on", on_http, on, on_process.pid), ("off", off_http, off, off_process.pid)]
            rates: dict[str, float] = {}
            for name, url, tally, pid in order if segment % 2 == 0 else order[::-1]:
                before_done, before_s = tally.done, tally.seconds
                load(ours_worker, url, args.workers, slice_s, tally, f"{name}{segment}", pid)
                rates[name] = (tally.done - before_done) / (tally.seconds - before_s)
            ratios.append(rates["on"] / max(rates["off"], 1e-9))
            line = (
                f"segment {segment + 1}: gzip on {rates['on']:.1f}, off {rates['off']:.1f} "
                f"trials/s (on/off {ratios[-1]:.3f})"
            )
            per_segment.append(line)
            print(line, flush=True)

    def row(label: str, t: Tally) -> str:
        return (
            f"| {label} | {t.done / t.seconds:.1f} | {pct(t.latencies_ms, 50):.1f} | "
            f"{pct(t.latencies_ms, 99):.1f} | {t.errors} | "
            f"{t.server_cpu_s * 1e3 / max(t.requests, 1):.2f} |"
        )

    lines = [
        machine_line(),
        f"{args.workers} worker threads (complete-and-claim), {args.seconds:.0f} s per side in "
        f"{args.segments} alternating slices; loopback; PostgreSQL 127.0.0.1; random sampler",
        f"a claim's answer: gzip on {sizes['on'][0]} bytes ({sizes['on'][1]}), "
        f"gzip off {sizes['off'][0]} bytes ({sizes['off'][1]})",
        "",
        "| server | trials/s | p50 ms | p99 ms | errors | server CPU ms/request |",
        "|---|---:|---:|---:|---:|---:|",
        row("gzip on (HPO_GZIP_MIN_BYTES=1024)", on),
        row("gzip off (HPO_GZIP_MIN_BYTES=0)", off),
        "",
        f"trials/s with gzip / without: {(on.done / on.seconds) / (off.done / off.seconds):.3f} "
        f"overall; median of the {len(ratios)} back-to-back pairs: {float(np.median(ratios)):.3f} "
        f"(quartiles {float(np.percentile(ratios, 25)):.3f} .. "
        f"{float(np.percentile(ratios, 75)):.3f})",
        "",
        *per_segment,
    ]
    if on.first_errors + off.first_errors:
        lines += ["", "first errors:", *on.first_errors, *off.first_errors]
    report = "\n".join(lines)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gzip_compare.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
