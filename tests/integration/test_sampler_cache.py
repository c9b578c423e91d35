"""The per-process sampler cache on real databases: its incremental loading sees every
finished trial, whichever replica finished it, and suggestions prepared in the background are
exactly those a claim would have asked for itself."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any

import pytest
from sqlalchemy import select

from hpo.comparison_spec import parse_comparison_spec
from hpo.service import Lease, Service
from hpo.service._common import FINISHED
from hpo.service.dispatch.sampler_cache import _Prepared
from hpo.spec import parse_study_spec
from hpo.storage import Database, Trial
from hpo.storage.repositories import claim_path
from tests.integration.factories import CACHE_SPACE, cache_spec, cache_value

pytestmark = pytest.mark.integration

_spec = cache_spec
_value = cache_value
SPACE = CACHE_SPACE


def _finished(db: Database, study_id: int) -> list[tuple[int, int]]:
    """(id, number) of the study's finished trials."""
    with db.transaction(write=False) as session:
        rows = session.execute(
            select(Trial.id, Trial.number).where(
                Trial.study_id == study_id, Trial.state.in_(FINISHED)
            )
        )
        return [(int(i), int(n)) for i, n in rows]


def _loads_exactly(entry: Any, finished: list[tuple[int, int]]) -> None:
    """The entry counts every finished trial as loaded, once, and no other trial."""
    assert entry.loaded == len(finished)
    assert all(entry.is_loaded(i, n) for i, n in finished)
    assert not entry.active_ids & set(entry.recent)
    assert all(n > entry.watermark for n in entry.recent.values())


def test_two_replicas_each_see_every_finished_trial(
    fresh_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Two services on one database (two API replicas, each with its own cache) claim,
    complete, fail and requeue in a random interleaving; after each claim that asked the
    sampler, the claiming replica's cache holds exactly the study's finished trials."""
    replicas = [Service(fresh_db, lease_seconds=60), Service(fresh_db, lease_seconds=60)]
    for replica in replicas:  # double-check on every read, and never find a difference
        replica.suggestions.cache.recount_every = 1
    study = replicas[0].studies.create(_spec("random", n_trials=200, max_parallel=6))
    rng = random.Random(3)
    held: list[Lease] = []
    lease: Lease | None
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
        entry = replica.suggestions.cache._entries[study.id]
        _loads_exactly(entry, _finished(fresh_db, study.id))
        assert entry.feed.held == 0  # told to the sampler, not kept
    assert "reloading" not in caplog.text


def test_a_cache_that_missed_a_trial_reloads_the_history(
    fresh_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(fresh_db)
    cache = service.suggestions.cache
    study = service.studies.create(_spec("random", n_trials=50, max_parallel=2))
    for _ in range(4):
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
    assert service.dispatch.claim("w") is not None
    entry = cache._entries[study.id]
    entry.loaded -= 1  # as if the incremental read had missed a trial
    cache.recount_every = 1
    assert service.dispatch.claim("w") is not None
    assert "reloading its history" in caplog.text
    _loads_exactly(entry, _finished(fresh_db, study.id))
    assert entry.loaded == 4
    # Told the reloaded history afresh (n_completed is BaseSampler's, not the protocol's).
    assert entry.sampler.n_completed == 4  # type: ignore[attr-defined]


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
        other.suggestions.prefetcher = None
        if not prepare:
            service.suggestions.prefetcher = None
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
            if service.suggestions.prefetcher is not None:
                assert service.suggestions.prefetcher.wait_idle(timeout=60)
        runs.append(suggested)
        prepared_used.append(service.suggestions.cache.prepared_used)
    assert runs[0] == runs[1]
    assert prepared_used[1] == 0
    assert prepared_used[0] >= 5  # the first ask of each round of two (6 in this schedule)


def _sixteen_running_two_prepared(
    service: Service, study_id: int
) -> tuple[list[Lease], Any, list[dict[str, Any]]]:
    """17 trials claimed and the first completed: 16 running, and once the background
    preparation is done, two suggestions ready (1 + 16 pending // 16), distinct. Returns the
    running leases, the study's cache entry and the ready params."""
    held = [service.dispatch.ask(study_id) for _ in range(17)]
    first = held.pop(0)
    service.dispatch.complete(first.trial_id, first.lease_token, _value(first.params))
    assert service.suggestions.prefetcher is not None
    assert service.suggestions.prefetcher.wait_idle(timeout=60)
    entry = service.suggestions.cache._entries[study_id]
    ready = [p.params for p in entry.prepared if p.params is not None]
    assert len(ready) == 2
    assert ready[0] != ready[1]
    return held, entry, ready


@pytest.mark.parametrize("sampler", ["tpe", "lipo"])
def test_with_many_pending_a_prepared_suggestion_a_result_behind_is_used(
    fresh_db: Database, sampler: str
) -> None:
    """Issue 12: with 16 trials running, results and claims interleave so tightly that an
    exact version rarely survives to the next claim; a prepared suggestion one result behind
    (here: another replica's result came in meanwhile) is used, and never one that is pending
    by now. Several are kept ready (one per 16 pending), distinct from each other."""
    service, other = Service(fresh_db), Service(fresh_db)
    other.suggestions.prefetcher = None
    study = service.studies.create(_spec(sampler, 200, max_parallel=40, name="near"))
    held, _, ready = _sixteen_running_two_prepared(service, study.id)
    # Another replica finishes a trial: the prepared version is one result behind now.
    late = held.pop(0)
    other.dispatch.complete(late.trial_id, late.lease_token, _value(late.params))
    used_before = service.suggestions.cache.prepared_used
    lease = service.dispatch.ask(study.id)
    assert service.suggestions.cache.prepared_used == used_before + 1
    assert lease.params == ready[0]
    assert lease.params not in [h.params for h in held]


@pytest.mark.parametrize("sampler", ["tpe", "lipo"])
def test_with_many_pending_claims_take_prepared_suggestions_while_the_sampler_is_busy(
    fresh_db: Database, sampler: str
) -> None:
    """Issue 12: a claim takes a prepared suggestion without the sampler's lock, so it never
    waits for a background ask under way (before, a claim batch of a 32-worker TPE run waited
    4 ms for one on average); the prepared ones a claim does not use stay for the next claims
    instead of being dropped. With none left, a claim waits for the sampler, takes what the
    background ask readied meanwhile, or else asks."""
    service = Service(fresh_db)
    study = service.studies.create(_spec(sampler, 200, max_parallel=40, name="take"))
    held, entry, ready = _sixteen_running_two_prepared(service, study.id)
    with ThreadPoolExecutor(max_workers=1) as pool:
        entry.lock.acquire()  # as a background ask holds it
        try:
            taken = [pool.submit(service.dispatch.ask, study.id).result(timeout=60)]
            taken.append(pool.submit(service.dispatch.ask, study.id).result(timeout=60))
            third = pool.submit(service.dispatch.ask, study.id)
            with pytest.raises(FuturesTimeout):
                third.result(timeout=0.5)  # no prepared one left: it waits for the sampler
            # The background ask it waits for readies one: taken once the lock is free.
            readied = {**ready[0], "lr": 0.0123}
            with entry.pool_lock:
                entry.prepared.append(_Prepared((entry.loaded, ()), readied))
        finally:
            entry.lock.release()
        assert third.result(timeout=60).params == readied
        asked = pool.submit(service.dispatch.ask, study.id).result(timeout=60)
    assert [lease.params for lease in taken] == ready
    others = [h.params for h in held] + ready + [readied]
    assert asked.params not in others


def test_a_refresh_keeps_the_params_of_a_trial_claimed_while_it_read(fresh_db: Database) -> None:
    """The background preparation refreshes without the study lock: a claim can record its
    trial's params (`claimed`) before it commits, after the refresh read the active trials.
    That refresh keeps them (a claim would otherwise find a pending trial's params missing
    and refresh under the lock); the next refresh, which would see the trial if it existed,
    drops them."""
    service = Service(fresh_db)
    service.suggestions.prefetcher = None
    study = service.studies.create(_spec("tpe", 50, max_parallel=4, name="lately"))
    held = service.dispatch.ask(study.id)
    service.dispatch.complete(held.trial_id, held.lease_token, _value(held.params))
    cache = service.suggestions.cache
    entry = cache._entries[study.id]
    cache.claimed(study.id, 10**9, {"never": "committed"})
    service.suggestions._prepare(study.id)
    assert 10**9 in entry.pending_params
    service.suggestions._prepare(study.id)
    assert 10**9 not in entry.pending_params


def _run(service: Service, study_id: int, n: int) -> list[dict[str, Any]]:
    """n trials of one study asked and completed in turn; their params."""
    out = []
    for _ in range(n):
        lease = service.dispatch.ask(study_id)
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
        out.append(lease.params)
    return out


def test_the_observation_bound_evicts_least_recently_used_studies(fresh_db: Database) -> None:
    """Past `max_observations` held by the cached samplers together, the least recently
    used studies leave the cache; an evicted study is rebuilt from the database on its next
    claim and suggests what it would have suggested had it stayed (the same study run on a
    cache that never evicts). Random search in a space with a continuous parameter holds
    nothing per observation, so it never counts."""
    bounded, unbounded = Service(fresh_db), Service(fresh_db)
    for service in (bounded, unbounded):
        service.suggestions.prefetcher = None
    cache = bounded.suggestions.cache
    cache.max_observations = 8
    kept, filler, lipo, rand, twin = (
        bounded.studies.create(_spec(sampler, 40, 1, name=name)).id
        for sampler, name in [
            ("tpe", "kept"),
            ("tpe", "filler"),
            ("lipo", "lipo"),
            ("random", "rand"),
            ("tpe", "twin"),
        ]
    )
    # A sampler holds the results it was told at its last claim: one fewer than completed.
    _run(bounded, rand, 12)
    assert rand in cache and cache.observations == 0
    got = _run(bounded, kept, 6)
    assert kept in cache and cache.observations == 5
    _run(bounded, filler, 6)  # 5 + 5 > 8: the least recently used goes
    assert kept not in cache and filler in cache and rand in cache
    assert cache.observations == 5 and cache.evicted == 1
    got += _run(bounded, kept, 2)  # rebuilt from the database; 7 + 5 > 8, and filler goes
    assert kept in cache and filler not in cache and cache.observations == 7
    _run(bounded, lipo, 3)
    assert kept not in cache and lipo in cache and cache.observations == 2
    assert got == _run(unbounded, twin, 8)
    assert unbounded.suggestions.cache.evicted == 0


def test_a_study_over_the_bound_alone_is_not_kept_but_still_right(fresh_db: Database) -> None:
    service = Service(fresh_db)
    service.suggestions.prefetcher = None
    cache = service.suggestions.cache
    cache.max_observations = 3
    grid = parse_study_spec(
        {
            "name": "g",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
            "space": {
                "width": {"type": "int", "low": 16, "high": 20},
                "activation": {"type": "categorical", "choices": ["relu"]},
            },
            "sampler": "grid",
            "budget": {"n_trials": 5, "max_parallel": 1},
        }
    )
    lipo = service.studies.create(_spec("lipo", 8, 1, name="big")).id
    _run(service, lipo, 5)
    assert lipo not in cache  # 5 > 3: dropped after each claim, rebuilt on the next
    assert cache.observations == 0
    # A grid keeps one flag per point, nothing per observation: every point exactly once.
    g = service.studies.create(grid).id
    params = _run(service, g, 5)
    assert sorted(p["width"] for p in params) == [16, 17, 18, 19, 20]


@pytest.mark.parametrize("end", ["completed", "cancelled", "deleted"])
def test_a_study_that_is_over_leaves_the_cache(fresh_db: Database, end: str) -> None:
    service = Service(fresh_db)
    service.suggestions.prefetcher = None
    cache = service.suggestions.cache
    other = service.studies.create(_spec("random", 50, 2, name="other")).id
    study = service.studies.create(_spec("tpe", 4, 2, name="ends")).id
    _run(service, other, 2)
    _run(service, study, 3)
    assert study in cache
    if end == "completed":
        _run(service, study, 1)  # the last trial of its budget completes the study
        assert service.studies.get(study).state == "completed"
    elif end == "cancelled":
        service.studies.update(study, action="cancel")
    else:
        service.studies.delete(study)
    assert study not in cache
    assert other in cache


def test_a_cancelled_comparison_leaves_the_cache(fresh_db: Database) -> None:
    service = Service(fresh_db)
    service.suggestions.prefetcher = None
    comparison = service.comparisons.create(
        parse_comparison_spec(
            {
                "name": "c",
                "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
                "space": SPACE,
                "samplers": ["random", "tpe"],
                "n_trials": 10,
                "repeats": 1,
            }
        )
    )
    ids = [s.id for s in comparison.studies]
    for _ in range(4):
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
    assert any(i in service.suggestions.cache for i in ids)
    service.comparisons.update(comparison.id, "cancel")
    assert not any(i in service.suggestions.cache for i in ids)


def test_no_background_preparation_a_claim_cannot_use(fresh_db: Database) -> None:
    """Issue 12: a study whose remaining trials are all enqueued prepared a suggestion after
    every result (22 prepared, 0 used in a 24-trial study), competing with training for CPU.
    Preparation runs only when a claim could use it; what it skipped and spent is counted."""
    service = Service(fresh_db)
    assert service.suggestions.prefetcher is not None
    study = service.studies.create(_spec("tpe", 12, max_parallel=2, name="enqueued"))
    rng = random.Random(0)
    for _ in range(12):
        service.studies.enqueue(
            study.id,
            {"lr": 10 ** rng.uniform(-4, -1), "width": rng.randint(16, 256), "activation": "relu"},
        )
    for _ in range(12):
        lease = service.dispatch.ask(study.id)
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
        assert service.suggestions.prefetcher.wait_idle(timeout=60)
    metrics = service.dispatch.metrics
    assert metrics.counter("hpo_suggestions_prepared_total") == 0
    assert metrics.counter("hpo_suggestions_skipped_no_room_total") >= 11
    assert service.suggestions.cache.prepared_used == 0

    # With room (nothing enqueued), the same study shape does prepare, and says what it cost.
    open_study = service.studies.create(_spec("tpe", 12, max_parallel=2, name="open"))
    for _ in range(6):
        lease = service.dispatch.ask(open_study.id)
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
        assert service.suggestions.prefetcher.wait_idle(timeout=60)
    assert metrics.counter("hpo_suggestions_prepared_total") >= 5
    assert metrics.counter("hpo_suggestion_prepare_cpu_seconds_total") > 0
    assert _histogram_count(metrics.render(), "hpo_suggestion_prepare_seconds") >= 5
    assert service.suggestions.cache.prepared_used >= 4


def _histogram_count(text: str, name: str) -> int:
    counts = [line for line in text.splitlines() if line.startswith(f"{name}_count ")]
    return int(counts[0].split()[1]) if counts else 0


def test_a_claims_time_is_in_the_metrics(fresh_db: Database) -> None:
    """Where a claim's time goes shows in /metrics: its batch's transaction, the ask inside
    it, and the wait for the sampler a background preparation held."""
    service = Service(fresh_db)
    service.studies.create(_spec("tpe", 4, max_parallel=2, name="timed"))
    lease = service.dispatch.claim("w1")
    assert lease is not None
    text = service.dispatch.metrics.render()
    for name in ("hpo_claim_batch_seconds", "hpo_ask_seconds", "hpo_sampler_wait_seconds"):
        assert _histogram_count(text, name) == 1, name


def test_stale_statistics_are_refreshed_so_the_refresh_read_stays_on_the_number_index(
    fresh_db: Database,
) -> None:
    """Issue 12: with the trials table's statistics stale (autovacuum off, or behind a table
    growing by thousands of trials a minute), PostgreSQL planned `finished_candidates` as a
    scan of the study's whole history, on every claim. The reaper's upkeep analyzes the table
    once it changed enough; then the read is two index lookups. Checked on the plan, on 3 000
    trials inserted at once."""
    if fresh_db.is_sqlite:
        pytest.skip("PostgreSQL's planner statistics")
    service = Service(fresh_db)
    study = service.studies.create(_spec("random", 10_000, max_parallel=40, name="plan"))
    with fresh_db.transaction() as session:
        session.connection().exec_driver_sql(
            "INSERT INTO trials (study_id, number, params, params_hash, state, value, attempt,"
            " created_at, finished_at, imported) SELECT %(sid)s, g, '{}', md5(g::text),"
            " CASE WHEN g >= 2970 THEN 'running' ELSE 'completed' END, random(), 1, now(),"
            " now(), false FROM generate_series(0, 2999) g",
            {"sid": study.id},
        )
    # The insert's row counts reach PostgreSQL's statistics views within about a second.
    deadline = time.monotonic() + 30
    while not service.dispatch.upkeep():
        assert time.monotonic() < deadline, "the upkeep never analyzed the trials table"
        time.sleep(0.2)
    assert not service.dispatch.upkeep()  # fresh now: nothing to do
    statement = claim_path._FINISHED_ABOVE_OR_IN.params(
        sid=study.id, top=2990, ids=list(range(2960, 2990))
    )
    sql = str(statement.compile(fresh_db.engine, compile_kwargs={"literal_binds": True}))
    with fresh_db.transaction(write=False) as session:
        plan = "\n".join(session.connection().exec_driver_sql("EXPLAIN " + sql).scalars())
    assert "uq_trials_study_id_number" in plan, plan
    assert "ix_trials_study_id_state_value" not in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_upkeep_does_nothing_on_sqlite(fresh_db: Database) -> None:
    """SQLite has no planner statistics to keep: the reaper's upkeep is a no-op there."""
    if not fresh_db.is_sqlite:
        pytest.skip("SQLite only")
    assert not Service(fresh_db).dispatch.upkeep()
