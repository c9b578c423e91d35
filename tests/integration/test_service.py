"""The service on real databases (SQLite and PostgreSQL): dispatch exactly once under
concurrency, leases and the reaper, pruning, study life cycle, enqueue and ask/tell."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hpo.errors import ConflictError, LeaseError, NotFoundError, ValidationError
from hpo.service import Lease, Service
from hpo.service.dispatch.claims import ClaimRequest
from hpo.spec import parse_study_spec
from hpo.storage import Database

pytestmark = pytest.mark.integration

GRID_64 = {
    "a": {"type": "int", "low": 0, "high": 7},
    "b": {"type": "categorical", "choices": [0, 1, 2, 3, 4, 5, 6, 7]},
}
SPACE_3D = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
}


def spec(**overrides: Any) -> Any:
    base: dict[str, Any] = {
        "name": "test",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 3},
        "space": SPACE_3D,
        "sampler": "random",
        "budget": {"n_trials": 10, "max_parallel": 4, "max_attempts": 3},
        "check_config": False,  # its params are not the trainers' (no trainer runs them)
    }
    base.update(overrides)
    return parse_study_spec(base)


class Clock:
    """A settable clock: leases expire when a test says so, not after a sleep."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _claim_all(
    service: Service, worker: str, out: list[Lease], errors: list[BaseException]
) -> None:
    try:
        while (lease := service.dispatch.claim(worker)) is not None:
            out.append(lease)
            value = float(lease.params["a"] * 8 + lease.params["b"])
            service.dispatch.complete(lease.trial_id, lease.lease_token, value)
    except BaseException as e:  # surfaced by the main thread
        errors.append(e)


def test_16_concurrent_claimers_finish_a_64_point_grid_exactly_once(fresh_db: Database) -> None:
    service = Service(fresh_db)
    study = service.studies.create(
        spec(space=GRID_64, sampler="grid", budget={"n_trials": 100, "max_parallel": 16})
    )
    leases: list[Lease] = []
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_claim_all, args=(service, f"w{i}", leases, errors))
        for i in range(16)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    configs = [(lease.params["a"], lease.params["b"]) for lease in leases]
    assert len(configs) == 64
    assert len(set(configs)) == 64
    view = service.studies.get(study.id)
    assert view.counts["completed"] == 64
    assert view.state == "completed"  # the exhausted grid finished the study


@pytest.mark.parametrize("sampler", ["tpe", "lipo"])
def test_eight_simultaneous_claims_get_distinct_configs(fresh_db: Database, sampler: str) -> None:
    service = Service(fresh_db)
    service.studies.create(spec(sampler=sampler, budget={"n_trials": 20, "max_parallel": 8}))
    leases: list[Lease] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        lease = service.dispatch.claim(f"w{i}")
        assert lease is not None
        leases.append(lease)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(leases) == 8
    assert len({tuple(sorted(lease.params.items())) for lease in leases}) == 8


def test_a_vanished_worker_is_requeued_and_its_late_complete_gets_409(db: Database) -> None:
    clock = Clock()
    service = Service(db, prepare_suggestions=False, lease_seconds=60, clock=clock)
    service.studies.create(spec(budget={"n_trials": 1, "max_parallel": 1, "max_attempts": 3}))
    vanished = service.dispatch.claim("vanished")
    assert vanished is not None
    assert service.dispatch.reap() == 0  # not expired yet
    clock.advance(61)
    assert service.dispatch.reap() == 1
    other = service.dispatch.claim("other")
    assert other is not None
    assert other.trial_id == vanished.trial_id
    assert other.params == vanished.params  # same params, next attempt
    assert other.attempt == 2
    with pytest.raises(LeaseError):
        service.dispatch.complete(vanished.trial_id, vanished.lease_token, 0.5)
    done = service.dispatch.complete(other.trial_id, other.lease_token, 0.9)
    assert (done.state, done.value) == ("completed", 0.9)


def test_attempts_are_capped_then_the_trial_fails_with_the_reason(db: Database) -> None:
    clock = Clock()
    service = Service(db, prepare_suggestions=False, lease_seconds=10, clock=clock)
    study = service.studies.create(
        spec(budget={"n_trials": 1, "max_parallel": 1, "max_attempts": 2})
    )
    for _ in range(2):
        assert service.dispatch.claim("w") is not None
        clock.advance(11)
        service.dispatch.reap()
    assert service.dispatch.claim("w") is None
    trials, _ = service.studies.trials(study.id)
    assert trials[0].state == "failed"
    assert trials[0].failure_class == "lost"
    assert "max_attempts=2" in (trials[0].failure_message or "")
    assert service.studies.get(study.id).state == "completed"


def test_heartbeat_and_report_renew_the_lease(db: Database) -> None:
    clock = Clock()
    service = Service(db, prepare_suggestions=False, lease_seconds=30, clock=clock)
    service.studies.create(spec())
    lease = service.dispatch.claim("w")
    assert lease is not None
    for step in range(1, 4):
        clock.advance(20)
        if step % 2:
            service.dispatch.heartbeat(lease.trial_id, lease.lease_token)
        else:
            service.dispatch.report(lease.trial_id, lease.lease_token, step, 0.1 * step)
        assert service.dispatch.reap() == 0
    assert service.dispatch.complete(lease.trial_id, lease.lease_token, 0.3).state == "completed"


def test_wrong_token_changes_nothing_and_a_repeated_complete_is_a_no_op(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    service.studies.create(spec())
    lease = service.dispatch.claim("w")
    assert lease is not None
    for call in (
        lambda: service.dispatch.complete(lease.trial_id, "forged", 1.0),
        lambda: service.dispatch.report(lease.trial_id, "forged", 1, 1.0),
        lambda: service.dispatch.fail(lease.trial_id, "forged", "config"),
        lambda: service.dispatch.heartbeat(lease.trial_id, "forged"),
    ):
        with pytest.raises(LeaseError):
            call()
    first = service.dispatch.complete(lease.trial_id, lease.lease_token, 0.7)
    again = service.dispatch.complete(lease.trial_id, lease.lease_token, 0.7)
    assert first == again
    with pytest.raises(ConflictError):
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.1)


def test_classified_failures(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(spec(budget={"n_trials": 3, "max_parallel": 3}))
    classes = ["diverged", "oom", "lost"]
    leases = [service.dispatch.claim(f"w{i}") for i in range(3)]
    for lease, failure in zip(leases, classes, strict=True):
        assert lease is not None
        service.dispatch.fail(lease.trial_id, lease.lease_token, failure, "boom")
    trials, _ = service.studies.trials(study.id)
    states = {t.failure_class: t.state for t in trials}
    assert states == {"diverged": "failed", "oom": "failed", "lost": "queued"}
    with pytest.raises(ValidationError, match="use one of"):
        service.dispatch.fail(trials[0].id, "x", "exploded")


def test_asha_prunes_through_reports_and_a_pruned_trial_counts(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(
        spec(
            pruner={"name": "asha", "options": {"min_resource": 1, "reduction_factor": 2}},
            budget={"n_trials": 4, "max_parallel": 4},
        )
    )
    leases = [service.dispatch.claim(f"w{i}") for i in range(2)]
    first, second = leases
    assert first is not None and second is not None
    # maximize: 0.9 at rung step 1 is promoted; 0.1 is in the bottom half at that rung.
    assert service.dispatch.report(first.trial_id, first.lease_token, 1, 0.9) is False
    assert service.dispatch.report(second.trial_id, second.lease_token, 1, 0.1) is True
    trials, _ = service.studies.trials(study.id, state=None)
    pruned = next(t for t in trials if t.id == second.trial_id)
    assert (pruned.state, pruned.value) == ("pruned", 0.1)
    with pytest.raises(ConflictError):  # the worker's late complete
        service.dispatch.report(second.trial_id, second.lease_token, 2, 0.2)


def test_study_life_cycle_pause_resume_cancel_and_budget(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(spec(budget={"n_trials": 2, "max_parallel": 2}))
    assert service.studies.update(study.id, action="pause").paused_reason == "paused by a user"
    assert service.dispatch.claim("w") is None
    with pytest.raises(ConflictError):
        service.studies.update(study.id, action="pause")
    assert service.studies.update(study.id, action="resume").paused_reason is None
    for _ in range(2):
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)
    assert service.studies.get(study.id).state == "completed"
    assert service.dispatch.claim("w") is None
    with pytest.raises(ValidationError, match="only be raised"):
        service.studies.update(study.id, n_trials=1)
    assert service.studies.update(study.id, n_trials=3).state == "running"
    lease = service.dispatch.claim("w")
    assert lease is not None
    service.studies.update(study.id, action="cancel")
    with pytest.raises(ConflictError):
        service.dispatch.report(lease.trial_id, lease.lease_token, 1, 0.5)
    assert service.studies.get(study.id).state == "cancelled"


def test_enqueue_is_deduplicated_and_claimed_first(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(spec())
    config = {"lr": 0.01, "width": 64, "activation": "tanh"}
    first, created = service.studies.enqueue(study.id, config)
    again, created_again = service.studies.enqueue(study.id, dict(reversed(config.items())))
    assert (created, created_again) == (True, False)
    assert first.id == again.id
    with pytest.raises(ValidationError, match="outside"):
        service.studies.enqueue(study.id, {**config, "width": 100_000})
    lease = service.dispatch.claim("w")
    assert lease is not None
    assert lease.trial_id == first.id


def test_leaderboard_best_and_ask_tell(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(spec(budget={"n_trials": 5, "max_parallel": 5}))
    values = [0.2, 0.9, 0.5, 0.7]
    for value in values:
        lease = service.dispatch.ask(study.id)
        service.dispatch.complete(lease.trial_id, lease.lease_token, value)
    board = service.studies.leaderboard(study.id, k=3)
    assert [t.value for t in board] == [0.9, 0.7, 0.5]
    best = service.studies.best(study.id)
    assert best.value == 0.9
    assert best.config["params"] == board[0].params
    assert best.config["task"]["model"] == "mlp"
    with pytest.raises(NotFoundError):
        service.studies.get(10_000)


def test_failed_and_diverged_history_does_not_break_samplers(db: Database) -> None:
    for name in ("random", "tpe", "gp", "lipo"):
        service = Service(db, prepare_suggestions=False)
        study = service.studies.create(
            spec(sampler=name, budget={"n_trials": 6, "max_parallel": 1})
        )
        for i in range(6):
            lease = service.dispatch.claim("w")
            assert lease is not None, name
            if i % 3 == 0:
                service.dispatch.fail(lease.trial_id, lease.lease_token, "diverged")
            else:
                service.dispatch.complete(lease.trial_id, lease.lease_token, float(i))
        assert service.studies.get(study.id).state == "completed"


def test_complete_and_claim_hands_out_the_next_trial_and_none_at_the_end(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(spec(budget={"n_trials": 3, "max_parallel": 1}))
    lease = service.dispatch.claim("w")
    assert lease is not None
    seen = [lease.trial_id]
    for _ in range(2):
        done, following = service.dispatch.complete_and_claim(
            lease.trial_id, lease.lease_token, 0.5, {"epochs": 1}, "w", host="h", devices=("cpu",)
        )
        assert (done.id, done.state, done.value) == (lease.trial_id, "completed", 0.5)
        assert following is not None and following.trial_id not in seen
        lease = following
        seen.append(lease.trial_id)
    done, following = service.dispatch.complete_and_claim(
        lease.trial_id, lease.lease_token, 0.25, None, "w"
    )
    assert following is None  # budget used: no work
    assert service.studies.get(study.id).state == "completed"
    # A wrong token completes nothing and claims nothing.
    with pytest.raises(LeaseError):
        service.dispatch.complete_and_claim(lease.trial_id, "forged", 0.1, None, "w")


def test_a_retried_complete_and_claim_hands_out_the_same_next_trial(db: Database) -> None:
    """The answer to a complete-and-claim was lost and the worker retries: the result is not
    recorded twice and the worker gets the trial the first attempt claimed for it, not a
    second one that would sit leased to nobody; once that lease is gone, a new claim."""
    clock = Clock()
    service = Service(db, prepare_suggestions=False, lease_seconds=60, clock=clock)
    study = service.studies.create(spec(budget={"n_trials": 10, "max_parallel": 4}))
    lease = service.dispatch.claim("w")
    assert lease is not None
    first = service.dispatch.complete_and_claim(lease.trial_id, lease.lease_token, 0.5, None, "w")
    again = service.dispatch.complete_and_claim(lease.trial_id, lease.lease_token, 0.5, None, "w")
    assert first == again
    assert first[1] is not None
    assert service.studies.get(study.id).counts["running"] == 1
    # Another worker's held trial is never handed to this one.
    other = service.dispatch.claim("other")
    assert other is not None
    third = service.dispatch.complete_and_claim(lease.trial_id, lease.lease_token, 0.5, None, "w")
    assert third[1] == first[1]
    # The held lease expired (and was requeued): a retry claims afresh.
    clock.advance(61)
    assert service.dispatch.reap() == 2
    fourth = service.dispatch.complete_and_claim(lease.trial_id, lease.lease_token, 0.5, None, "w")
    assert fourth[1] is not None and fourth[1].lease_token != first[1].lease_token
    with pytest.raises(ConflictError):  # a different value is not a retry
        service.dispatch.complete_and_claim(lease.trial_id, lease.lease_token, 0.9, None, "w")


def _claim_together(service: Service, workers: list[str]) -> list[Lease | None]:
    """Claims served as one batch, as the combiner serves claims that arrived together."""
    requests = [ClaimRequest(w, "host", ("cpu",)) for w in workers]
    return service.dispatch.claims.serve_batch(requests)


def test_claims_served_together_fill_the_least_busy_study_then_the_next(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    small = service.studies.create(spec(name="small", budget={"n_trials": 50, "max_parallel": 3}))
    large = service.studies.create(spec(name="large", budget={"n_trials": 50, "max_parallel": 9}))
    config = {"lr": 0.01, "width": 64, "activation": "tanh"}
    queued, _ = service.studies.enqueue(small.id, config)
    leases = _claim_together(service, [f"w{i}" for i in range(5)])
    assert all(lease is not None for lease in leases)
    got = [lease for lease in leases if lease is not None]
    # Both studies idle: the older first, up to its max_parallel; its queued trial first.
    assert [lease.study_id for lease in got] == [small.id] * 3 + [large.id] * 2
    assert got[0].trial_id == queued.id and got[0].params == config
    assert [lease.number for lease in got] == [0, 1, 2, 0, 1]
    assert len({lease.lease_token for lease in got}) == 5
    for study_id in (small.id, large.id):
        params = [str(lease.params) for lease in got if lease.study_id == study_id]
        assert len(set(params)) == len(params)  # distinct within a study
    # Each lease belongs to the worker that asked, in order.
    by_id = {
        t.id: t.worker_id
        for study_id in (small.id, large.id)
        for t in service.studies.trials(study_id)[0]
    }
    assert [by_id[lease.trial_id] for lease in got] == [f"w{i}" for i in range(5)]
    metrics = service.dispatch.metrics.render()
    assert "hpo_claim_batches_total 1" in metrics
    assert "hpo_claims_total 5" in metrics


def test_claims_served_together_stop_at_the_grid_and_budget(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    grid = {"a": {"type": "int", "low": 0, "high": 3}}
    study = service.studies.create(
        spec(space=grid, sampler="grid", budget={"n_trials": 100, "max_parallel": 10})
    )
    leases = _claim_together(service, [f"w{i}" for i in range(6)])
    got = [lease for lease in leases if lease is not None]
    assert sorted(lease.params["a"] for lease in got) == [0, 1, 2, 3]
    assert leases[4:] == [None, None]  # the grid has 4 points
    for lease in got:
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)
    assert service.studies.get(study.id).state == "completed"
    budget = service.studies.create(spec(name="b", budget={"n_trials": 2, "max_parallel": 10}))
    leases = _claim_together(service, ["x", "y", "z"])
    assert [lease is not None for lease in leases] == [True, True, False]
    assert {lease.study_id for lease in leases if lease is not None} == {budget.id}
