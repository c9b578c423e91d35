"""The storage contract suite: every repository function, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hpo.errors import AlreadyExistsError, NotFoundError, StorageError, ValidationError
from hpo.storage import Database, Direction, StudyState, Trial, TrialState, Worker
from hpo.storage import repositories as repo
from tests.integration.factories import make_study

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def finish(trial: Trial, state: TrialState, value: float | None) -> None:
    trial.state = state
    trial.value = value


# --- studies ---------------------------------------------------------------------------------


def test_create_get_list_delete_study(db: Database) -> None:
    with db.transaction() as s:
        first = make_study(s, name="a")
        second = make_study(s, name="b", comparison_id=7, direction=Direction.MINIMIZE)
        second.state = StudyState.PAUSED
    with db.transaction(write=False) as s:
        got = repo.get_study(s, first.id)
        assert (got.name, got.state, got.direction) == ("a", StudyState.RUNNING, "maximize")
        assert got.spec == {"task": {"model": "mlp"}, "space": {"lr": {"type": "float"}}}
        assert got.created_at.tzinfo is not None
        assert [x.name for x in repo.list_studies(s)] == ["b", "a"]  # newest first
        assert [x.name for x in repo.list_studies(s, states=[StudyState.RUNNING])] == ["a"]
        assert [x.name for x in repo.list_studies(s, comparison_id=7)] == ["b"]
        assert [x.name for x in repo.list_studies(s, offset=1, limit=1)] == ["a"]
    with db.transaction() as s:
        repo.delete_study(s, first.id)
    with db.transaction(write=False) as s, pytest.raises(NotFoundError, match="not found"):
        repo.get_study(s, first.id)
    with db.transaction() as s, pytest.raises(NotFoundError, match="nothing was deleted"):
        repo.delete_study(s, first.id)


def test_delete_study_cascades_to_trials_and_reports(db: Database) -> None:
    with db.transaction() as s:
        study = make_study(s)
        trial = repo.insert_trial(s, study.id, {"lr": 0.1})
        repo.record_report(s, trial, 1, 0.5)
        keep = make_study(s)
        repo.insert_trial(s, keep.id, {"lr": 0.1})
    with db.transaction() as s:
        repo.delete_study(s, study.id)
    with db.transaction(write=False) as s:
        assert repo.study_reports(s, study.id) == {}
        assert s.get(Trial, trial.id) is None
        assert repo.count_trials(s, keep.id) == 1


def test_counts_by_state_include_zeros(db: Database) -> None:
    with db.transaction() as s:
        a, b, empty = make_study(s), make_study(s), make_study(s)
        for state in (TrialState.RUNNING, TrialState.RUNNING, TrialState.COMPLETED):
            repo.insert_trial(s, a.id, {"x": 1}, state=state)
        repo.insert_trial(s, b.id, {"x": 1}, state=TrialState.FAILED)
    with db.transaction(write=False) as s:
        counts = repo.count_trials_by_state(s, a.id)
        assert counts == {
            TrialState.QUEUED: 0,
            TrialState.RUNNING: 2,
            TrialState.COMPLETED: 1,
            TrialState.PRUNED: 0,
            TrialState.FAILED: 0,
        }
        many = repo.count_trials_by_state_for(s, [a.id, b.id, empty.id])
        assert many[a.id] == counts
        assert many[b.id][TrialState.FAILED] == 1
        assert sum(many[empty.id].values()) == 0
        assert repo.count_trials_by_state_for(s, []) == {}


def test_claimable_study_ids_least_busy_first(db: Database) -> None:
    with db.transaction() as s:
        busy = make_study(s, max_parallel=3)
        idle = make_study(s, max_parallel=3)
        full = make_study(s, max_parallel=1)
        paused = make_study(s)
        paused.state = StudyState.PAUSED
        for _ in range(2):
            repo.insert_trial(s, busy.id, {"x": 1}, state=TrialState.RUNNING)
        repo.insert_trial(s, full.id, {"x": 1}, state=TrialState.RUNNING)
        repo.insert_trial(s, idle.id, {"x": 1}, state=TrialState.COMPLETED)
    with db.transaction(write=False) as s:
        claimable = repo.claimable_study_ids(s)
    assert claimable == [idle.id, busy.id]


# --- trials ----------------------------------------------------------------------------------


def test_trials_are_numbered_per_study(db: Database) -> None:
    with db.transaction() as s:
        a, b = make_study(s), make_study(s)
        assert repo.next_trial_number(s, a.id) == 0
        numbers = [repo.insert_trial(s, a.id, {"i": i}).number for i in range(3)]
        other = repo.insert_trial(s, b.id, {"i": 0})
        assert repo.next_trial_number(s, a.id) == 3
    assert numbers == [0, 1, 2]
    assert other.number == 0
    with db.transaction() as s:
        trial = repo.lock_trial(s, other.id)
        assert (trial.state, trial.attempt, trial.params) == (TrialState.QUEUED, 1, {"i": 0})
    with pytest.raises(AlreadyExistsError), db.transaction() as s:
        repo.insert_trial(s, a.id, {"i": 9}, number=1)


def test_exactly_once_configs_are_unique_while_sampled_ones_may_repeat(db: Database) -> None:
    params = {"lr": 0.01, "width": 64, "act": "relu"}
    reordered = {"act": "relu", "width": 64, "lr": 0.01}
    with db.transaction() as s:
        study = make_study(s)
        first = repo.insert_trial(s, study.id, params, exactly_once=True)
        # A random sampler may propose the same point again: allowed, no dedup key.
        repo.insert_trial(s, study.id, params)
        repo.insert_trial(s, study.id, params)
    key = repo.params_hash(reordered)
    assert first.dedup_key == first.params_hash == key
    with pytest.raises(AlreadyExistsError, match="already exists"), db.transaction() as s:
        repo.insert_trial(s, study.id, reordered, exactly_once=True)
    with db.transaction(write=False) as s:
        found = repo.find_trial_by_dedup_key(s, study.id, key)
        assert found is not None and found.id == first.id
        assert repo.find_trial_by_dedup_key(s, study.id, repo.params_hash({"lr": 1})) is None
        assert repo.count_trials(s, study.id) == 3  # the failed insert was rolled back
    # The same config in another study is another trial.
    with db.transaction() as s:
        repo.insert_trial(s, make_study(s).id, params, exactly_once=True)


def test_params_hash_distinguishes_types_and_refuses_nan() -> None:
    assert repo.params_hash({"a": 1}) != repo.params_hash({"a": 1.0})
    with pytest.raises(ValueError):
        repo.params_hash({"a": float("nan")})


def test_json_round_trip(db: Database) -> None:
    params = {"lr": 1e-5, "layers": [64, 32], "opt": {"name": "adam", "betas": [0.9, 0.999]}}
    with db.transaction() as s:
        trial = repo.insert_trial(s, make_study(s).id, params)
        trial.metrics = {"val_accuracy": 0.91, "note": "ünïcode ✓", "epochs": 3, "ok": True}
    with db.transaction(write=False) as s:
        got = s.get(Trial, trial.id)
        assert got is not None and got.params == params
        assert got.metrics == {"val_accuracy": 0.91, "note": "ünïcode ✓", "epochs": 3, "ok": True}


def test_list_trials_filters_by_state_and_pages(db: Database) -> None:
    states = [TrialState.COMPLETED, TrialState.RUNNING, TrialState.COMPLETED, TrialState.FAILED]
    with db.transaction() as s:
        study = make_study(s)
        for i, state in enumerate(states):
            repo.insert_trial(s, study.id, {"i": i}, state=state)
    with db.transaction(write=False) as s:
        assert [t.number for t in repo.list_trials(s, study.id)] == [0, 1, 2, 3]
        done = repo.list_trials(s, study.id, states=[TrialState.COMPLETED])
        assert [t.number for t in done] == [0, 2]
        page = repo.list_trials(s, study.id, offset=1, limit=2)
        assert [t.number for t in page] == [1, 2]
        assert repo.list_trials(s, study.id, offset=4) == []
        assert repo.count_trials(s, study.id, states=[TrialState.COMPLETED]) == 2
        assert repo.count_trials(s, study.id, states=[TrialState.PRUNED]) == 0


@pytest.mark.parametrize("direction", [Direction.MINIMIZE, Direction.MAXIMIZE])
def test_leaderboard_and_best_respect_direction(db: Database, direction: Direction) -> None:
    rows = [
        (TrialState.COMPLETED, 0.5),
        (TrialState.COMPLETED, 0.9),
        (TrialState.RUNNING, None),
        (TrialState.FAILED, None),
        (TrialState.PRUNED, 0.95),
        (TrialState.PRUNED, 0.05),
        (TrialState.COMPLETED, 0.1),
        (TrialState.COMPLETED, 0.5),  # ties with #0: the earlier trial ranks first
    ]
    with db.transaction() as s:
        study = make_study(s, direction=direction)
        assert repo.best_trial(s, study.id, direction) is None
        for i, (state, value) in enumerate(rows):
            finish(repo.insert_trial(s, study.id, {"i": i}), state, value)
    with db.transaction(write=False) as s:
        top = [t.number for t in repo.leaderboard(s, study.id, direction, k=10)]
        with_pruned = repo.leaderboard(s, study.id, direction, k=3, include_pruned=True)
        best = repo.best_trial(s, study.id, direction)
    if direction is Direction.MINIMIZE:
        assert top == [6, 0, 7, 1]
        assert [t.number for t in with_pruned] == [5, 6, 0]
    else:
        assert top == [1, 0, 7, 6]
        assert [t.number for t in with_pruned] == [4, 1, 0]
    assert best is not None and best.number == top[0]


def test_trial_values_must_be_finite() -> None:
    trial = Trial()
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValidationError, match="diverged"):
            trial.value = bad
    trial.value = 0.5


def test_expired_leases_round_trip_aware_timestamps(db: Database) -> None:
    with db.transaction() as s:
        study = make_study(s)
        leases = {"late": T0 - timedelta(seconds=5), "later": T0 - timedelta(seconds=60)}
        leases |= {"fresh": T0 + timedelta(seconds=60)}
        ids = {}
        for name, expiry in leases.items():
            trial = repo.insert_trial(s, study.id, {"name": name}, state=TrialState.RUNNING)
            trial.lease_token, trial.lease_expires_at = f"token-{name}", expiry
            ids[name] = trial.id
        done = repo.insert_trial(s, study.id, {"name": "done"}, state=TrialState.COMPLETED)
        done.lease_expires_at = T0 - timedelta(hours=1)  # finished: never reaped
    with db.transaction() as s:
        expired = repo.expired_leases(s, T0)
        assert [t.id for t in expired] == [ids["later"], ids["late"]]
        assert expired[0].lease_expires_at == T0 - timedelta(seconds=60)
        assert expired[0].lease_expires_at.tzinfo is not None
        assert [t.id for t in repo.expired_leases(s, T0, limit=1)] == [ids["later"]]
        # The same instant in another zone is the same instant.
        other_zone = T0.astimezone(timezone(timedelta(hours=2)))
        assert len(repo.expired_leases(s, other_zone)) == 2


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(StorageError, match="naive datetime"), db.transaction() as s:
        trial = repo.insert_trial(s, make_study(s).id, {"x": 1})
        trial.lease_expires_at = datetime(2026, 1, 1)  # naive, on purpose
        s.flush()


def test_next_queued_trial_and_lock_trial(db: Database) -> None:
    with db.transaction() as s:
        study = make_study(s)
        assert repo.next_queued_trial(s, study.id) is None
        repo.insert_trial(s, study.id, {"i": 0}, state=TrialState.RUNNING)
        second = repo.insert_trial(s, study.id, {"i": 1})
        repo.insert_trial(s, study.id, {"i": 2})
    with db.transaction() as s:
        queued = repo.next_queued_trial(s, study.id)
        assert queued is not None and queued.id == second.id
        locked = repo.lock_trial(s, second.id)
        assert locked.params == {"i": 1}
        with pytest.raises(NotFoundError):
            repo.lock_trial(s, 10_000)


def test_trial_of_a_missing_study_is_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="does not exist"), db.transaction() as s:
        repo.insert_trial(s, 10_000, {"x": 1}, number=0)


# --- reports ---------------------------------------------------------------------------------


def test_reports_upsert_and_track_the_last_step(db: Database) -> None:
    with db.transaction() as s:
        study = make_study(s)
        trial = repo.insert_trial(s, study.id, {"x": 1}, state=TrialState.RUNNING)
        repo.record_report(s, trial, 1, 0.5)
        repo.record_report(s, trial, 2, 0.6)
    with db.transaction() as s:
        trial = repo.lock_trial(s, trial.id)
        repo.record_report(s, trial, 2, 0.65)  # a retried report replaces, no conflict
        repo.record_report(s, trial, 0, 0.1)  # a late, earlier step leaves last_step alone
    with db.transaction(write=False) as s:
        assert repo.study_reports(s, study.id) == {trial.id: [(0, 0.1), (1, 0.5), (2, 0.65)]}
        trial = repo.lock_trial(s, trial.id)
        assert (trial.last_step, trial.last_report_value) == (2, 0.65)


def test_reports_refuse_non_finite_values_and_negative_steps(db: Database) -> None:
    with db.transaction() as s:
        trial = repo.insert_trial(s, make_study(s).id, {"x": 1})
        with pytest.raises(ValidationError, match="diverged"):
            repo.record_report(s, trial, 1, float("nan"))
        with pytest.raises(ValidationError, match=">= 0"):
            repo.record_report(s, trial, -1, 0.5)


def test_study_reports_for_pruners(db: Database) -> None:
    with db.transaction() as s:
        study, other = make_study(s), make_study(s)
        a = repo.insert_trial(s, study.id, {"i": 0}, state=TrialState.COMPLETED)
        b = repo.insert_trial(s, study.id, {"i": 1}, state=TrialState.RUNNING)
        c = repo.insert_trial(s, study.id, {"i": 2}, state=TrialState.FAILED)
        x = repo.insert_trial(s, other.id, {"i": 0}, state=TrialState.RUNNING)
        for step, value in [(3, 0.3), (1, 0.1), (2, 0.2)]:
            repo.record_report(s, a, step, value)
        repo.record_report(s, b, 1, 0.15)
        repo.record_report(s, c, 1, 0.9)
        repo.record_report(s, x, 1, 0.0)
    with db.transaction(write=False) as s:
        everything = repo.study_reports(s, study.id)
        assert everything == {
            a.id: [(1, 0.1), (2, 0.2), (3, 0.3)],
            b.id: [(1, 0.15)],
            c.id: [(1, 0.9)],
        }
        live = repo.study_reports(
            s, study.id, trial_states=[TrialState.COMPLETED, TrialState.RUNNING], max_step=2
        )
        assert live == {a.id: [(1, 0.1), (2, 0.2)], b.id: [(1, 0.15)]}
        first_step = repo.study_reports(s, study.id, max_step=1)
        assert first_step == {a.id: [(1, 0.1)], b.id: [(1, 0.15)], c.id: [(1, 0.9)]}
        assert repo.study_reports(s, study.id, trial_states=[TrialState.PRUNED]) == {}


# --- workers ---------------------------------------------------------------------------------


def _workers(db: Database) -> list[tuple[str, str, list[str], datetime, datetime]]:
    with db.transaction(write=False) as s:
        rows = s.scalars(select(Worker).order_by(Worker.id))
        return [(w.id, w.host, w.devices, w.first_seen, w.last_seen) for w in rows]


def test_touch_worker_inserts_then_refreshes(db: Database) -> None:
    with db.transaction() as s:
        repo.touch_worker(s, "gpu-box-1:0", host="gpu-box-1", devices=["cuda:0"], now=T0)
    assert _workers(db) == [("gpu-box-1:0", "gpu-box-1", ["cuda:0"], T0, T0)]
    later = T0 + timedelta(minutes=5)
    with db.transaction() as s:
        repo.touch_worker(
            s, "gpu-box-1:0", host="gpu-box-1", devices=["cuda:0", "cuda:1"], now=later
        )
        repo.touch_worker(s, "laptop", host="laptop", devices=["cpu"], now=T0)
    assert _workers(db) == [
        ("gpu-box-1:0", "gpu-box-1", ["cuda:0", "cuda:1"], T0, later),
        ("laptop", "laptop", ["cpu"], T0, T0),
    ]
