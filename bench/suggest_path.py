"""Suggest path: one claim + complete round trip over HTTP for a TPE study with 1000 finished
trials on PostgreSQL, against Optuna's own distributed path (RDBStorage on the same PostgreSQL,
ask + tell) and Optuna's in-memory ask + tell, interleaved in the same run.

    .venv/bin/python bench/suggest_path.py [--history 1000] [--rounds 40] [--profile]

- ours: a real `hpo serve` subprocess on a fresh PostgreSQL database; the history is inserted
  straight into the database (1000 completed trials), then each round is `POST
  /workers/claim` + `POST /trials/{id}/complete` through `hpo.client.Client`;
- optuna-pg: `optuna.storages.RDBStorage` on another fresh database of the same server, the
  same 1000 (params, value) pairs added with `add_trials`, then `study.ask()` + `study.tell()`;
- optuna-memory: the same with Optuna's default in-memory storage;
- ours back-to-back: a claim + complete right after another of ours, i.e. with no time for
  the server to prepare the next suggestion in the background (the other rows leave it the
  two Optuna rounds, as a worker that trains leaves it the training time); the worst case.

All of them use the TPE settings of our adapter (multivariate, constant liar, 24 EI candidates,
10 startup trials) and see the same history. They are interleaved round by round, so a
burst of load from a neighbour hits them alike; compare the ratios, not the milliseconds.

`--profile` then runs the claim path in this process (the same Dispatcher on the same
database, no HTTP) under cProfile and prints where a claim spends its time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import optuna
from optuna.trial import TrialState as OptunaState
from optuna.trial import create_trial

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _service_bench import (
    SPACE,
    hpo_serve,
    machine_line,
    objective,
    pct,
    postgres_database,
)

from hpo.client import Client
from hpo.samplers._optuna import distributions_for
from hpo.service import Service
from hpo.space import space_from_dict
from hpo.spec import parse_study_spec
from hpo.storage import Database, TrialState, create_engine_for, migrate, utcnow
from hpo.storage import repositories as repo

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)

TPE_OPTIONS = {"n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": True,
               "constant_liar": True}  # fmt: skip


def tpe(seed: int) -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(**TPE_OPTIONS, seed=seed)  # type: ignore[arg-type]


def history(n: int, seed: int) -> list[tuple[dict[str, Any], float]]:
    """n random configurations of the 6-D space and their objective values."""
    space = space_from_dict(SPACE)
    rng = np.random.default_rng(seed)
    return [(dict(p), objective(dict(p))) for p in space.sample(rng, n)]


# -- ours ------------------------------------------------------------------------------------
def prefill_ours(database_url: str, past: list[tuple[dict[str, Any], float]], rounds: int) -> int:
    """Migrate, create the TPE study, insert the finished trials in one transaction."""
    engine = create_engine_for(database_url)
    try:
        migrate(engine)
        service = Service(Database(engine))
        spec = {
            "name": "bench-suggest-path",
            "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 1, "metric": "val_loss"},
            "space": SPACE,
            "sampler": {"name": "tpe", "options": TPE_OPTIONS},
            "budget": {"n_trials": len(past) + 20 * rounds + 100, "max_parallel": 4},
            "seed": 0,
        }
        study = service.studies.create(parse_study_spec(spec))
        now = utcnow()
        with service.db.transaction() as session:
            for number, (params, value) in enumerate(past):
                trial = repo.insert_trial(session, study.id, params, number=number)
                trial.state = TrialState.COMPLETED
                trial.value = value
                trial.attempt = 1
                trial.started_at = now - timedelta(seconds=2)
                trial.finished_at = now - timedelta(seconds=1)
        return study.id
    finally:
        engine.dispose()


def ours_round(client: Client, timings: dict[str, list[float]], key: str = "ours") -> None:
    """One claim + complete. `key` "ours": the claim comes after the two Optuna rounds of the
    previous iteration (a worker that trained for a while); "ours back-to-back": right after
    a complete of ours, before a suggestion prepared in the background can be ready."""
    t0 = time.perf_counter()
    lease = client.claim("bench-suggest")
    t1 = time.perf_counter()
    if lease is None:
        raise RuntimeError("claim answered 204: the study has no room")
    client.complete(lease.trial_id, lease.lease_token, objective(lease.params))
    t2 = time.perf_counter()
    if key == "ours":
        timings["ours claim"].append((t1 - t0) * 1e3)
        timings["ours complete"].append((t2 - t1) * 1e3)
    timings[key].append((t2 - t0) * 1e3)


def ours_back_to_back(client: Client, timings: dict[str, list[float]]) -> None:
    ours_round(client, {"unmeasured": []}, "unmeasured")  # its complete starts a background ask
    ours_round(client, timings, "ours back-to-back")


def prepared_share(url: str) -> str:
    """From the server's /metrics: how many claims asked the sampler and how many of those
    found a suggestion prepared in the background."""
    counters = {}
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        name, _, value = line.partition(" ")
        if not line.startswith("#") and value:
            counters[name] = float(value)
    claims = counters.get("hpo_claims_total", 0.0)
    used = counters.get("hpo_suggestions_prepared_used_total", 0.0)
    prepared = counters.get("hpo_suggestions_prepared_total", 0.0)
    return (
        f"server: {claims:.0f} claims (warm-up and back-to-back included), {used:.0f} served "
        f"by a suggestion prepared in the background; {prepared:.0f} prepared"
    )


# -- optuna ----------------------------------------------------------------------------------
def optuna_study(
    storage: optuna.storages.BaseStorage | None, past: list[tuple[dict[str, Any], float]]
) -> optuna.Study:
    dists = distributions_for(space_from_dict(SPACE))
    study = optuna.create_study(storage=storage, sampler=tpe(0), direction="minimize")
    study.add_trials(
        [
            create_trial(state=OptunaState.COMPLETE, value=v, params=p, distributions=dists)
            for p, v in past
        ]
    )
    return study


def optuna_round(study: optuna.Study, key: str, timings: dict[str, list[float]]) -> None:
    dists = distributions_for(space_from_dict(SPACE))
    t0 = time.perf_counter()
    trial = study.ask(dists)
    study.tell(trial, objective(trial.params))
    timings[key].append((time.perf_counter() - t0) * 1e3)


# -- profile ---------------------------------------------------------------------------------
def _timed_targets() -> list[tuple[str, object, str]]:
    """(label, owner, attribute) of the functions on the claim path, outermost first. The
    owner is where the caller looks the name up, so patching it there times every call."""
    import optuna.storages
    import optuna.study
    from sqlalchemy.orm import Session

    import hpo.samplers._base as base
    import hpo.samplers._optuna as adapter
    import hpo.service.dispatch as dispatch
    import hpo.service.dispatch.claims as claims
    import hpo.service.dispatch.sampler_cache as sampling
    import hpo.service.dispatch.suggestions as suggestions
    import hpo.storage.repositories as repos

    return [
        ("Dispatcher.claim (whole claim)", dispatch.Dispatcher, "claim"),
        ("  Suggestions.suggest (sampling)", suggestions.Suggestions, "suggest"),
        ("    read_active: highest number, active trials", claims, "read_active"),
        ("    SamplerCache.suggest", sampling.SamplerCache, "suggest"),
        ("      SamplerCache._refresh: newly finished trials", sampling.SamplerCache,
         "_refresh"),
        ("      to_observation (x new)", sampling, "to_observation"),
        ("    BaseSampler.tell", base.BaseSampler, "tell"),
        ("    BaseSampler.ask", base.BaseSampler, "ask"),
        ("      _OptunaAdapter._sync: rebuild an Optuna study", adapter._OptunaAdapter, "_sync"),
        ("        optuna create_trial (x n)", adapter, "create_trial"),
        ("        optuna Study.add_trials", optuna.study.Study, "add_trials"),
        ("      optuna Study.ask (TPE + storage)", optuna.study.Study, "ask"),
        ("        InMemoryStorage.get_all_trials", optuna.storages.InMemoryStorage,
         "get_all_trials"),
        ("        TPESampler.sample_relative", optuna.samplers.TPESampler, "sample_relative"),
        ("  insert_trial", repos, "insert_trial"),
        ("background: SamplerCache.prepare", sampling.SamplerCache, "prepare"),
        ("Dispatcher.complete (whole complete)", dispatch.Dispatcher, "complete"),
        ("Session.commit (claim and complete)", Session, "commit"),
    ]  # fmt: skip


def profile_claim_path(database_url: str, rounds: int, out: Path) -> str:
    """Where an in-process claim (the same Dispatcher on the same database, no HTTP) spends
    its time: wall-clock timers wrapped around the functions of the claim path (cheap, unlike
    cProfile, which inflates Python-heavy code 3-4x), then a cProfile listing in `out`."""
    import functools

    engine = create_engine_for(database_url)
    service = Service(Database(engine))

    def one() -> None:
        lease = service.dispatch.claim("bench-profile")
        if lease is None:
            raise RuntimeError("no room")
        service.dispatch.complete(lease.trial_id, lease.lease_token, objective(lease.params))

    one()  # warm
    walls = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        one()
        walls.append((time.perf_counter() - t0) * 1e3)

    spent: dict[str, list[float]] = {}
    originals: list[tuple[object, str, Any]] = []
    for label, owner, attribute in _timed_targets():
        original = getattr(owner, attribute)
        spent[label] = [0.0, 0]

        def wrapper(*a: Any, __f: Any = original, __s: list[float] = spent[label], **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return __f(*a, **k)
            finally:
                __s[0] += time.perf_counter() - t
                __s[1] += 1

        functools.update_wrapper(wrapper, original)
        originals.append((owner, attribute, original))
        setattr(owner, attribute, wrapper)
    try:
        timed = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            one()
            timed.append((time.perf_counter() - t0) * 1e3)
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(max(2, rounds // 3)):
        one()
    profiler.disable()
    engine.dispose()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("cumulative").print_stats(45)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(buffer.getvalue())

    lines = [
        f"in-process claim + complete, no HTTP: p50 {pct(walls, 50):.1f} ms "
        f"(with the timers below: p50 {pct(timed, 50):.1f} ms), {rounds} rounds",
        "",
        "| claim path (wall-clock timers, in-process) | ms per round | calls per round |",
        "|---|---:|---:|",
    ]
    for label, (seconds, calls) in spent.items():
        indent = len(label) - len(label.lstrip())
        name = "&nbsp;" * indent + label.strip()
        lines.append(f"| {name} | {seconds * 1e3 / rounds:.1f} | {calls / rounds:.0f} |")
    lines += ["", f"(cProfile listing, sorted by cumulative time: {out})"]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1000, help="finished trials before")
    parser.add_argument("--rounds", type=int, default=40, help="measured round trips each")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the claim path")
    parser.add_argument("--profile-rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/out/suggest_path"))
    args = parser.parse_args()

    past = history(args.history, seed=1)
    keys = ("ours", "ours claim", "ours complete", "ours back-to-back", "optuna-pg",
            "optuna-memory")  # fmt: skip
    timings: dict[str, list[float]] = {k: [] for k in keys}
    with postgres_database("ours") as ours_url, postgres_database("optuna") as optuna_url:
        t0 = time.perf_counter()
        prefill_ours(ours_url, past, args.rounds + args.warmup)
        print(f"ours: {args.history} trials inserted in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        storage = optuna.storages.RDBStorage(optuna_url)
        pg_study = optuna_study(storage, past)
        print(f"optuna-pg: {args.history} trials added in {time.perf_counter() - t0:.1f} s")
        mem_study = optuna_study(None, past)
        with (
            hpo_serve(ours_url, log=args.out / "serve.log") as (url, _proc),
            Client(url, retries=0) as client,
        ):
            rounds: list[tuple[str, Callable[[], None]]] = [
                ("ours", lambda: ours_round(client, timings)),
                ("ours back-to-back", lambda: ours_back_to_back(client, timings)),
                ("optuna-pg", lambda: optuna_round(pg_study, "optuna-pg", timings)),
                ("optuna-memory", lambda: optuna_round(mem_study, "optuna-memory", timings)),
            ]
            for i in range(args.warmup + args.rounds):
                for _name, run in rounds:
                    run()
                if i == args.warmup - 1:
                    for values in timings.values():
                        values.clear()
            share = prepared_share(url)
        report = table(timings, args) + "\n" + share
        print(report, flush=True)
        if args.profile:
            listing = args.out / "claim_profile.txt"
            profile = profile_claim_path(ours_url, args.profile_rounds, listing)
            print(profile)
            report += "\n\n" + profile
        storage.engine.dispose()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "suggest_path.md").write_text(report + "\n")


def table(timings: dict[str, list[float]], args: argparse.Namespace) -> str:
    rows = [
        machine_line(),
        f"history {args.history} finished trials, 6-D, TPE {TPE_OPTIONS}; {args.rounds} rounds "
        f"each after {args.warmup} warm-up, interleaved",
        "",
        "| path | p50 ms | p90 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for key, values in timings.items():
        rows.append(
            f"| {key} | {pct(values, 50):.1f} | {pct(values, 90):.1f} | {np.mean(values):.1f} |"
        )
    ours, pg, mem, b2b = (
        pct(timings[k], 50) for k in ("ours", "optuna-pg", "optuna-memory", "ours back-to-back")
    )
    rows += [
        "",
        f"ours / optuna-pg (p50): {ours / pg:.2f} (target <= 0.5): "
        + ("met" if ours / pg <= 0.5 else "MISSED"),
        f"ours / optuna-memory (p50): {ours / mem:.2f} (target <= 1.3): "
        + ("met" if ours / mem <= 1.3 else "MISSED"),
        f"ours back-to-back / optuna-pg, / optuna-memory (p50): {b2b / pg:.2f}, {b2b / mem:.2f}",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
