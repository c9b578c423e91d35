"""What the API process keeps per finished trial: a Dispatcher driven in a loop (claim,
complete, no training) in this process, with tracemalloc snapshots diffed between a warm-up
and the end, per sampler.

    .venv/bin/python bench/cache_memory.py [--samplers random,qmc,tpe,lipo] [--warmup 300]
        [--trials 1500] [--workers 8] [--database sqlite|postgresql://...] [--top 8]

Prints, per sampler, the Python bytes allocated and still held per trial between the two snapshots
(all of them, and those under hpo/service/dispatch/sampler_cache.py and hpo/samplers/), the sampler
cache's own count of observations, and the largest growth sites. The same study space as
bench/load_test.py. Needs no server.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import tempfile
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpo.service import Service  # noqa: E402
from hpo.spec import parse_study_spec  # noqa: E402
from hpo.storage import Database, create_engine_for, migrate  # noqa: E402


def spec(sampler: str, n_trials: int) -> Any:
    options = {"n_candidates": 200} if sampler == "lipo" else {}
    return parse_study_spec(
        {
            "name": f"mem-{sampler}",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
            "space": {
                "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "width": {"type": "int", "low": 16, "high": 512, "log": True},
                "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
            },
            "sampler": {"name": sampler, "options": options},
            "budget": {"n_trials": n_trials, "max_parallel": 4096},
        }
    )


def drive(service: Service, n: int, workers: int, rng: random.Random) -> None:
    """n trials claimed and completed, `workers` in flight at a time (round robin)."""
    held: list[Any] = []
    done = 0
    while done < n:
        while len(held) < workers:
            lease = service.dispatch.claim(f"w{len(held)}")
            assert lease is not None
            held.append(lease)
        lease = held.pop(rng.randrange(len(held)))
        service.dispatch.complete(lease.trial_id, lease.lease_token, rng.random())
        done += 1
    for lease in held:
        service.dispatch.complete(lease.trial_id, lease.lease_token, rng.random())
    if service.suggestions.prefetcher is not None:
        service.suggestions.prefetcher.wait_idle(60)


def _held(snapshot: tracemalloc.Snapshot, part: str) -> int:
    return sum(
        s.size
        for s in snapshot.statistics("traceback")
        if any(part in f.filename for f in s.traceback)
    )


def measure(db: Database, sampler: str, args: argparse.Namespace) -> dict[str, Any]:
    service = Service(db, lease_seconds=600)
    study = service.studies.create(spec(sampler, args.warmup + args.trials + 10 * args.workers))
    rng = random.Random(0)
    drive(service, args.warmup, args.workers, rng)
    gc.collect()
    tracemalloc.start(25)
    before = tracemalloc.take_snapshot()
    drive(service, args.trials, args.workers, rng)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    diff = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in diff)
    per_site = after.compare_to(before, "lineno")
    top = [
        f"{s.traceback[0].filename.replace(str(ROOT) + '/', '')}:{s.traceback[0].lineno} "
        f"{s.size_diff / args.trials:+.0f} B/trial"
        for s in sorted(per_site, key=lambda s: -s.size_diff)[: args.top]
    ]
    cache = service.suggestions.cache
    entry = cache._entries.get(study.id)
    observations = getattr(cache, "observations", None)
    result = {
        "sampler": sampler,
        "trials_measured": args.trials,
        "bytes_per_trial_all": round(total / args.trials),
        "bytes_per_trial_under_sampling_py": round(
            sum(
                s.size_diff
                for s in diff
                if any("hpo/service/dispatch/sampler_cache.py" in f.filename for f in s.traceback)
            )
            / args.trials
        ),
        "bytes_per_trial_under_hpo_samplers": round(
            sum(
                s.size_diff for s in diff if any("hpo/samplers/" in f.filename for f in s.traceback)
            )
            / args.trials
        ),
        "cached_observations": observations if observations is not None else None,
        "entry_present": entry is not None,
        "top_sites": top,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="random,qmc,tpe,lipo")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--trials", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    results = []
    for sampler in args.samplers.split(","):
        admin = None
        if args.database == "sqlite":
            tmp = tempfile.mkdtemp()
            url = f"sqlite:///{tmp}/hpo.db"
        else:
            admin_url = make_url(args.database).set(drivername="postgresql+psycopg")
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            name = f"hpo_mem_{uuid.uuid4().hex[:8]}"
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            url = admin_url.set(database=name).render_as_string(hide_password=False)
        migrate(url)
        db = Database(create_engine_for(url))
        try:
            results.append(measure(db, sampler, args))
        finally:
            db.dispose()
            if admin is not None:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
        print(json.dumps(results[-1], indent=2), flush=True)


if __name__ == "__main__":
    main()
