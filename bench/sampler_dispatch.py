"""Dispatch throughput for every sampler, with many workers holding pending trials (issue 12).

The case users run: W simulated workers (threads, one HTTP connection each) claim over REST,
"train" for `--train-seconds` (a sleep: while it sleeps the trial is pending, so the
model-based samplers see W pending configurations at every ask), report the objective with
`complete-and-claim` (as `hpo worker` does) and go on. Each sampler has its own `hpo serve`
process and its own fresh PostgreSQL database, all alive together; the run is cut into
`--slice-seconds` slices that rotate over the samplers, minute 1 of every sampler, then
minute 2 of every sampler..., so machine noise (these cores are shared) falls on all alike
while each study's history grows as in one continuous run. Printed per worker count: trials/s
per slice (decay shows as a falling row), the mean, the last slice over the first, and each
sampler's mean over random's.

    .venv/bin/python bench/sampler_dispatch.py [--workers 8,32,64] [--slices 5]
        [--slice-seconds 60] [--train-seconds 0.3] [--samplers random,qmc,tpe,gp,cmaes,lipo]
        [--pool 6,2]

`--samplers tpe,tpe/0` runs TPE twice, on a server with the default sampler process and on
one with `HPO_SAMPLER_PROCESSES=0` (every ask in the API process), side by side in the
rotation: an A/B in one run.

The objective is `_service_bench.objective` (cheap, deterministic): the benchmark times
dispatch and suggestion, not training. A 0.3 s trial is far shorter than a real one; it makes
the service, not the sleep, the limit (W / 0.3 s is the ceiling), which is the point.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _service_bench import SPACE, hpo_serve, machine_line, objective, pct, postgres_database


@dataclass
class Tally:
    done: int = 0
    errors: int = 0
    claim_ms: list[float] = field(default_factory=list)  # latency of the request bringing a lease
    first_errors: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 3:
            self.first_errors.append(message)


def worker(url: str, name: str, deadline: float, train_s: float, tally: Tally) -> None:
    """claim (long-poll 1 s), train, complete-and-claim...; a lease held at the deadline is
    completed after it (not counted), so no trial stays running between slices."""
    lock = threading.Lock()
    with httpx.Client(base_url=url, timeout=60) as http:
        lease: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            try:
                if lease is None:
                    t0 = time.perf_counter()
                    r = http.post(
                        "/api/v1/workers/claim", json={"worker_id": name, "wait_seconds": 1.0}
                    )
                    if r.status_code == 200:
                        lease = r.json()
                        with lock:
                            tally.claim_ms.append((time.perf_counter() - t0) * 1e3)
                    elif r.status_code != 204:
                        tally.error(f"claim {r.status_code}: {r.text[:200]}")
                        time.sleep(0.5)
                    continue
                time.sleep(train_s)
                if time.monotonic() >= deadline:
                    break
                body = {
                    "lease_token": lease["lease_token"],
                    "value": objective(lease["params"]),
                    "worker_id": name,
                }
                t0 = time.perf_counter()
                c = http.post(f"/api/v1/trials/{lease['trial_id']}/complete-and-claim", json=body)
                if c.status_code == 200:
                    tally.done += 1  # one thread per worker: += on an int is enough under the GIL
                    lease = c.json().get("next")
                    if lease is not None:
                        tally.claim_ms.append((time.perf_counter() - t0) * 1e3)
                else:
                    tally.error(f"complete-and-claim {c.status_code}: {c.text[:200]}")
                    lease = None
            except httpx.HTTPError as e:
                lease = None
                tally.error(f"{type(e).__name__}: {e}")
        if lease is not None:
            body = {"lease_token": lease["lease_token"], "value": objective(lease["params"])}
            with suppress(httpx.HTTPError):
                http.post(f"/api/v1/trials/{lease['trial_id']}/complete", json=body)


def run_slice(url: str, workers: int, seconds: float, train_s: float, tag: str) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=worker, args=(url, f"{tag}-{i}", deadline, train_s, tally))
        for i in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return tally


def suggestion_metrics(url: str) -> str:
    """Prepared, used, and the preparation's CPU seconds, from the server's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("hpo_suggestion") and " " in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    prepared = values.get("hpo_suggestions_prepared_total", 0)
    used = values.get("hpo_suggestions_prepared_used_total", 0)
    cpu = values.get("hpo_suggestion_prepare_cpu_seconds_total", 0)
    return f"{prepared:.0f} / {used:.0f} / {cpu:.1f}"


def create_study(url: str, sampler: str, workers: int) -> int:
    spec = {
        "name": f"bench-{sampler}",
        "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 1, "metric": "val_loss"},
        "space": SPACE,
        "sampler": {"name": sampler},
        "budget": {"n_trials": 100_000, "max_parallel": workers},
        "seed": 0,
    }
    r = httpx.post(f"{url}/api/v1/studies", json=spec, timeout=60)
    r.raise_for_status()
    return int(r.json()["id"])


@contextmanager
def servers(
    samplers: list[str], out: Path, tag: str, pool: tuple[int, int]
) -> Iterator[dict[str, str]]:
    """One `hpo serve` on its own fresh PostgreSQL database per sampler."""
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        for name in samplers:
            sampler, _, processes = name.partition("/")
            extra = {} if not processes else {"HPO_SAMPLER_PROCESSES": processes}
            database = stack.enter_context(postgres_database(f"{tag}_{sampler}{processes}"))
            url, _ = stack.enter_context(
                hpo_serve(
                    database,
                    log=out / f"serve-{tag}-{sampler}{processes}.log",
                    env={
                        "HPO_MAX_TRIALS_PER_STUDY": "1000000",
                        "HPO_LOG_LEVEL": "warning",
                        # six servers on one PostgreSQL (max_connections 100), beside others
                        "HPO_DATABASE_POOL_SIZE": str(pool[0]),
                        "HPO_DATABASE_MAX_OVERFLOW": str(pool[1]),
                        **extra,
                    },
                )
            )
            urls[name] = url
        yield urls


def one_worker_count(args: argparse.Namespace, workers: int) -> list[str]:
    samplers: list[str] = args.samplers.split(",")
    rates: dict[str, list[float]] = {s: [] for s in samplers}
    claims: dict[str, list[float]] = {s: [] for s in samplers}
    errors: dict[str, int] = {s: 0 for s in samplers}
    first_errors: list[str] = []
    prep: dict[str, str] = {}
    size, overflow = (int(x) for x in args.pool.split(","))
    with servers(samplers, args.out, f"w{workers}", (size, overflow)) as urls:
        for name, url in urls.items():
            create_study(url, name.partition("/")[0], workers)
        for k in range(args.slices):
            # Rotate the order each round, so no sampler always follows the same neighbour.
            order = samplers[k % len(samplers) :] + samplers[: k % len(samplers)]
            for name in order:
                tally = run_slice(urls[name], workers, args.slice_seconds, args.train_seconds, name)
                rates[name].append(tally.done / args.slice_seconds)
                claims[name].extend(tally.claim_ms)
                errors[name] += tally.errors
                first_errors.extend(f"{name}: {e}" for e in tally.first_errors)
                if k == args.slices - 1:
                    prep[name] = suggestion_metrics(urls[name])
                    # The whole of /metrics too: where a claim's time went (batch, ask, wait).
                    metrics_file = args.out / f"metrics-w{workers}-{name.replace('/', '-')}.txt"
                    metrics_file.write_text(httpx.get(f"{urls[name]}/metrics", timeout=30).text)
                print(
                    f"{workers} workers, slice {k + 1}/{args.slices}, {name}: "
                    f"{rates[name][-1]:.1f} trials/s",
                    flush=True,
                )
    ceiling = workers / args.train_seconds
    random_mean = sum(rates["random"]) / len(rates["random"]) if "random" in rates else None
    head = " | ".join(f"slice {i + 1}" for i in range(args.slices))
    lines = [
        f"#### {workers} workers (ceiling {ceiling:.0f} trials/s: {workers} / "
        f"{args.train_seconds} s)",
        "",
        f"| sampler | {head} | mean | last / first | mean / random's | lease p50 ms "
        "| lease p99 ms | errors |",
        "|---|" + "---:|" * (args.slices + 6),
    ]
    for name in samplers:
        r = rates[name]
        mean = sum(r) / len(r)
        vs_random = f"{mean / random_mean:.2f}" if random_mean else "-"
        lines.append(
            f"| {name} | " + " | ".join(f"{x:.1f}" for x in r) + f" | {mean:.1f} | "
            f"{r[-1] / r[0]:.2f} | {vs_random} | {pct(claims[name], 50):.0f} | "
            f"{pct(claims[name], 99):.0f} | {errors[name]} |"
        )
    lines += [
        "",
        "Suggestions prepared in the background / used by a claim / CPU s (from /metrics):",
    ]
    lines += [f"- {name}: {prep.get(name, '-')}" for name in samplers]
    if first_errors:
        lines += ["", "first errors: " + "; ".join(first_errors[:5])]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="8,32,64")
    parser.add_argument("--slices", type=int, default=5)
    parser.add_argument("--slice-seconds", type=float, default=60.0)
    parser.add_argument("--train-seconds", type=float, default=0.3)
    parser.add_argument(
        "--samplers",
        default="random,qmc,tpe,gp,cmaes,lipo",
        help="comma-separated; NAME/K runs that sampler's server with HPO_SAMPLER_PROCESSES=K "
        "(e.g. tpe,tpe/0: with and without a sampler process, side by side in the rotation)",
    )
    parser.add_argument(
        "--pool",
        default="6,2",
        help="each server's PostgreSQL pool size and overflow (all servers share one "
        "PostgreSQL, max_connections 100 by default; fewer kept than concurrent requests "
        "means connections opened and closed under load)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/sampler_dispatch"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        machine_line() + ", load average at start {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()),
        f"{args.slices} slices of {args.slice_seconds:.0f} s per sampler, rotating; "
        f"{args.train_seconds} s per simulated trial; PostgreSQL 127.0.0.1; each server's "
        f"pool {args.pool}; HPO_SAMPLER_PROCESSES="
        f"{os.environ.get('HPO_SAMPLER_PROCESSES', '1 (the default)')}",
        "",
    ]
    for w in (int(x) for x in args.workers.split(",")):
        lines += [*one_worker_count(args, w), ""]
        (args.out / "sampler_dispatch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
