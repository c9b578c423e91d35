"""Warm start vs cold start: trials a new study needs to reach an earlier study's best.

For each sampler (TPE, LIPO) and seed: a *source* study runs `--source-trials` trials on an
analytic problem (hpo.bench.functions; minimized). Then two studies on the same problem and
space, each with the same seed and a budget of `--budget` trials: *cold* (nothing before it)
and *warm* (`warm_start: {from_studies: [source]}`, so the source's completed trials are
imported and seed its sampler). Each is run until one of its own trials reaches the source's
best value; the figure is how many of its own trials that took (imported ones not counted;
`budget + 1` when it never did: censored, reported as such). Everything goes through the
service in-process (hpo.service.Service on a throwaway SQLite file), claim and complete as a
worker does, so the warm start is the one `POST /api/v1/studies` makes.

    .venv/bin/python bench/warm_start.py                     # mixed problem, 7 seeds
    .venv/bin/python bench/warm_start.py --problem hartmann6 --seeds 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hpo.bench.functions import Problem, get_problem
from hpo.bench.harness import machine_meta
from hpo.service import Service
from hpo.spec import parse_study_spec
from hpo.storage import Database, create_engine_for, migrate


def _spec(problem: Problem, sampler: str, seed: int, n_trials: int, **extra: Any) -> Any:
    return parse_study_spec(
        {
            "name": f"{problem.name}-{sampler}-{seed}",
            "task": {"model": "mlp", "dataset": "digits", "direction": "minimize"},
            "space": problem.space,
            "sampler": sampler,
            "budget": {"n_trials": n_trials, "max_parallel": 1, "max_attempts": 1},
            "seed": seed,
            "check_config": False,  # the objective is an analytic function, not a trainer
            **extra,
        }
    )


def _run(service: Service, study_id: int, problem: Problem, target: float | None) -> int | None:
    """Run the study's trials in order (it is the only running study); stop at the first
    value <= target and return its 1-based index among the study's own trials (None if the
    budget ran out first)."""
    own = 0
    while (lease := service.dispatch.claim("bench")) is not None:
        if lease.study_id != study_id:
            raise RuntimeError(f"claimed a trial of study {lease.study_id}, not {study_id}")
        value = float(problem.fn(lease.params))
        service.dispatch.complete(lease.trial_id, lease.lease_token, value)
        own += 1
        if target is not None and value <= target:
            service.studies.update(study_id, action="cancel")
            return own
    return None


def measure(
    service: Service, problem: Problem, sampler: str, seed: int, source_n: int, budget: int
) -> dict[str, Any]:
    source = service.studies.create(_spec(problem, sampler, 1000 + seed, source_n))
    _run(service, source.id, problem, None)
    best = service.studies.get(source.id).best
    if best is None or best.value is None:
        raise RuntimeError(f"source study {source.id} completed no trial")
    cold = service.studies.create(_spec(problem, sampler, seed, budget))
    cold_n = _run(service, cold.id, problem, best.value)
    warm = service.studies.create(
        _spec(problem, sampler, seed, budget, warm_start={"from_studies": [source.id]})
    )
    warm_n = _run(service, warm.id, problem, best.value)
    return {
        "sampler": sampler,
        "seed": seed,
        "source_best": best.value,
        "imported": warm.imported_trials,
        "cold": cold_n,
        "warm": warm_n,
    }


def _median(values: list[int | None], budget: int) -> float:
    return float(statistics.median(budget + 1 if v is None else v for v in values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="mixed")
    parser.add_argument("--samplers", default="tpe,lipo")
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--source-trials", type=int, default=30)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--json", type=Path, help="Also write every run here.")
    args = parser.parse_args(argv)
    problem = get_problem(args.problem)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        db = Database(create_engine_for(url))
        service = Service(db, prepare_suggestions=False)
        try:
            for sampler in args.samplers.split(","):
                for seed in range(args.seeds):
                    row = measure(service, problem, sampler, seed, args.source_trials, args.budget)
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            db.dispose()
    elapsed = time.perf_counter() - started
    cap = f"{args.budget + 1} = not reached in {args.budget}"
    print(f"# warm start vs cold start on {problem.name} ({problem.dim}-D), minimized")
    print(
        f"source: {args.source_trials} trials; then cold and warm studies of the same seed, "
        f"budget {args.budget}; trials of its own each needed to reach the source's best "
        f"(median over {args.seeds} seeds; {cap})"
    )
    print()
    print("| sampler | cold (median) | warm (median) | cold/warm | warm faster in | not reached |")
    print("|---|---:|---:|---:|---:|---|")
    for sampler in args.samplers.split(","):
        mine = [r for r in rows if r["sampler"] == sampler]
        cold = _median([r["cold"] for r in mine], args.budget)
        warm = _median([r["warm"] for r in mine], args.budget)
        faster = sum(
            1 for r in mine if (r["warm"] or args.budget + 1) < (r["cold"] or args.budget + 1)
        )
        cold_missed = sum(r["cold"] is None for r in mine)
        warm_missed = sum(r["warm"] is None for r in mine)
        missed = f"cold {cold_missed}, warm {warm_missed}"
        print(
            f"| {sampler} | {cold:g} | {warm:g} | {cold / warm:.1f}x | "
            f"{faster}/{len(mine)} seeds | {missed} |"
        )
    print()
    print(
        "per seed (cold, warm): "
        + "; ".join(f"{r['sampler']} s{r['seed']}: {r['cold']}, {r['warm']}" for r in rows)
    )
    print(f"machine: {machine_meta()}; {elapsed:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({"problem": problem.name, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
