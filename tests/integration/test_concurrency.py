"""The per-study lock serializes writers, on both backends, with real concurrent connections."""

from __future__ import annotations

import time

import pytest

from hpo.errors import AlreadyExistsError
from hpo.storage import Database, lock_study
from hpo.storage import repositories as repo
from tests.integration.conftest import run_together
from tests.integration.factories import make_study

pytestmark = pytest.mark.integration

N_THREADS = 8


def test_study_lock_gives_concurrent_writers_distinct_trial_numbers(fresh_db: Database) -> None:
    with fresh_db.transaction() as s:
        study_id = make_study(s).id

    def add_trial(i: int) -> int:
        with fresh_db.transaction() as s:
            lock_study(s, study_id)
            number = repo.next_trial_number(s, study_id)
            time.sleep(0.01)  # widen the read-then-insert window a lost lock would expose
            return repo.insert_trial(s, study_id, {"i": i}, number=number).number

    results = run_together(N_THREADS, add_trial)
    assert sorted(results) == list(range(N_THREADS)), results  # type: ignore[type-var]


def test_exactly_once_config_enqueued_concurrently_is_inserted_once(fresh_db: Database) -> None:
    params = {"lr": 0.1, "width": 64}
    with fresh_db.transaction() as s:
        study_id = make_study(s).id

    def enqueue(_: int) -> bool:
        with fresh_db.transaction() as s:
            lock_study(s, study_id)
            if repo.find_trial_by_dedup_key(s, study_id, repo.params_hash(params)):
                return False
            repo.insert_trial(s, study_id, params, exactly_once=True)
            return True

    results = run_together(N_THREADS, enqueue)
    assert results.count(True) == 1 and results.count(False) == N_THREADS - 1, results
    with fresh_db.transaction(write=False) as s:
        assert repo.count_trials(s, study_id) == 1


def test_without_the_lock_postgresql_writers_collide(fresh_db: Database) -> None:
    """The control experiment: the lock is what makes the numbering safe."""
    if fresh_db.is_sqlite:
        pytest.skip("SQLite write transactions are serialized by BEGIN IMMEDIATE anyway")
    with fresh_db.transaction() as s:
        study_id = make_study(s).id
    with pytest.raises(AlreadyExistsError), fresh_db.transaction() as first:
        number = repo.next_trial_number(first, study_id)
        with fresh_db.transaction() as second:
            # Both read the same maximum; the second commits first.
            assert repo.next_trial_number(second, study_id) == number
            repo.insert_trial(second, study_id, {"who": "second"}, number=number)
        repo.insert_trial(first, study_id, {"who": "first"}, number=number)
