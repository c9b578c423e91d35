"""The per-process sampler cache on real databases: its incremental loading sees every
finished trial, whichever replica finished it, and suggestions prepared in the background are
exactly those a claim would have asked for itself."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select

from hpo.service import Lease, Service
from hpo.service._common import FINISHED
from hpo.spec import parse_study_spec
from hpo.storage import Database, Trial

pytestmark = pytest.mark.integration

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
}


def _spec(sampler: str, n_trials: int, max_parallel: int, name: str = "cache") -> Any:
    return parse_study_spec(
        {
            "name": name,
            "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
            "space": SPACE,
            "sampler": {"name": sampler, "options": {"n_startup_trials": 3}}
            if sampler == "tpe"
            else sampler,
            "budget": {"n_trials": n_trials, "max_parallel": max_parallel},
            "seed": 7,
        }
    )


def _value(params: dict[str, Any]) -> float:
    return (
        float(params["width"]) / 256 + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[params["activation"]]
    )


def _finished_ids(db: Database, study_id: int) -> set[int]:
    with db.transaction(write=False) as session:
        rows = session.scalars(
            select(Trial.id).where(Trial.study_id == study_id, Trial.state.in_(FINISHED))
        )
        return set(rows)


def test_two_replicas_each_see_every_finished_trial(
    fresh_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Two services on one database (two API replicas, each with its own cache) claim,
    complete, fail and requeue in a random interleaving; after each claim that asked the
    sampler, the claiming replica's cache holds exactly the study's finished trials."""
    replicas = [Service(fresh_db, lease_seconds=60), Service(fresh_db, lease_seconds=60)]
    for replica in replicas:  # double-check on every read, and never find a difference
        replica.dispatch.samplers.recount_every = 1
    study = replicas[0].studies.create(_spec("random", n_trials=200, max_parallel=6))
    rng = random.Random(3)
    held: list[Lease] = []
    for step in range(120):
        replica = replicas[rng.randrange(2)]
        if held and (len(held) >= 5 or rng.random() < 0.5):
            lease = held.pop(rng.randrange(len(held)))
            outcome = rng.random()
            if outcome < 0.7:
                replica.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
            elif outcome < 0.85:
                replica.dispatch.fail(lease.trial_id, lease.lease_token, "diverged")
            else:  # requeued: active again, then claimed again (same params)
                replica.dispatch.fail(lease.trial_id, lease.lease_token, "lost")
            continue
        lease = replica.dispatch.claim(f"w{step}")
        assert lease is not None
        held.append(lease)
        if lease.attempt > 1:
            continue  # a requeued trial: handed out without asking the sampler
        entry = replica.dispatch.samplers._entries[study.id]
        assert set(entry.finished) == _finished_ids(fresh_db, study.id)
        assert len(entry.observations) == len(entry.finished)
    assert "reloading" not in caplog.text


def test_a_cache_that_missed_a_trial_reloads_the_history(
    fresh_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(fresh_db)
    cache = service.dispatch.samplers
    study = service.studies.create(_spec("random", n_trials=50, max_parallel=2))
    for _ in range(4):
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
    assert service.dispatch.claim("w") is not None
    entry = cache._entries[study.id]
    lost = min(entry.finished)  # as if the incremental read had missed it
    del entry.finished[lost]
    entry.observations.pop(0)
    cache.recount_every = 1
    assert service.dispatch.claim("w") is not None
    assert "reloading its history" in caplog.text
    assert set(entry.finished) == _finished_ids(fresh_db, study.id)
    assert len(entry.observations) == 4


@pytest.mark.parametrize("sampler", ["tpe", "lipo"])
def test_prepared_suggestions_are_what_the_claim_would_ask(
    fresh_db: Database, sampler: str
) -> None:
    """The same study run twice, with suggestions prepared in the background and without:
    the same configurations, in the same order, and most claims used a prepared one. Some
    rounds run two trials at once, and in some a second replica asks a trial after the
    suggestion was prepared, which makes it stale: it must not be used then."""
    runs: list[list[dict[str, Any]]] = []
    prepared_used = []
    for prepare in (True, False):
        service, other = Service(fresh_db), Service(fresh_db)
        other.dispatch.prefetcher = None
        if not prepare:
            service.dispatch.prefetcher = None
        study = service.studies.create(_spec(sampler, 60, max_parallel=3, name=f"p{prepare}"))
        suggested: list[dict[str, Any]] = []
        held: list[Lease] = []
        for i in range(24):
            if i % 4 == 1:
                held.append(other.dispatch.ask(study.id))
                suggested.append(held[-1].params)
            while len(held) < (2 if i % 4 in (1, 3) else 1):
                held.append(service.dispatch.ask(study.id))
                suggested.append(held[-1].params)
            lease = held.pop(0)
            service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
            if service.dispatch.prefetcher is not None:
                assert service.dispatch.prefetcher.wait_idle(timeout=60)
        runs.append(suggested)
        prepared_used.append(service.dispatch.samplers.prepared_used)
    assert runs[0] == runs[1]
    assert prepared_used[1] == 0
    assert prepared_used[0] >= 5  # the first ask of each round of two (6 in this schedule)
