"""Engine configuration, the transaction helper's error mapping, and the study lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from hpo.errors import (
    AlreadyExistsError,
    ConflictError,
    DatabaseUnavailable,
    NotFoundError,
    StorageError,
)
from hpo.storage import (
    Database,
    create_engine_for,
    lock_study,
    lock_study_snapshot,
    normalize_url,
)
from hpo.storage import repositories as repo
from tests.integration.factories import make_study

pytestmark = pytest.mark.integration


def test_transaction_commits_or_rolls_back_and_lets_domain_errors_through(db: Database) -> None:
    with db.transaction() as s:
        kept = make_study(s, name="kept")
    with pytest.raises(ConflictError, match="on purpose"), db.transaction() as s:
        make_study(s, name="lost")
        raise ConflictError("on purpose")
    with db.transaction(write=False) as s:
        assert [study.id for study in repo.list_studies(s)] == [kept.id]


def test_unique_violation_becomes_already_exists_chained_to_the_driver_error(db: Database) -> None:
    with db.transaction() as s:
        study = make_study(s)
        repo.insert_trial(s, study.id, {"x": 1}, number=0)
    with pytest.raises(AlreadyExistsError) as caught, db.transaction() as s:
        repo.insert_trial(s, study.id, {"x": 2}, number=0)
    assert isinstance(caught.value.__cause__, sa_exc.IntegrityError)
    # The session was rolled back and closed: the database is usable at once.
    with db.transaction() as s:
        assert repo.count_trials(s, study.id) == 1


def test_missing_schema_is_a_storage_error_that_says_to_migrate(db: Database) -> None:
    with pytest.raises(StorageError, match="hpo migrate") as caught, db.transaction() as s:
        s.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, DatabaseUnavailable)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_unreachable_database_is_unavailable(kind: str, tmp_path: Path) -> None:
    # PostgreSQL: nothing listens on port 1. SQLite: a directory is not a database file.
    url = (
        "postgresql://postgres@127.0.0.1:1/hpo?connect_timeout=2"
        if kind == "postgresql"
        else f"sqlite:///{tmp_path}"
    )
    db = Database(create_engine_for(url))
    with pytest.raises(DatabaseUnavailable, match="retry") as caught, db.transaction() as s:
        s.execute(text("SELECT 1"))
    assert isinstance(caught.value.__cause__, sa_exc.OperationalError)
    db.dispose()


@contextmanager
def holding_write_lock(db: Database) -> Iterator[None]:
    """Hold a write transaction open in another thread for the duration of the block."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.transaction():
            started.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert started.wait(10)
        yield
    finally:
        release.set()
        thread.join()


def test_sqlite_writer_waits_for_the_busy_timeout_then_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    db = Database(create_engine_for(url, sqlite_busy_timeout_s=0.3))
    with holding_write_lock(db):
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match="busy"), db.transaction():
            pass
        assert time.monotonic() - started >= 0.25  # it waited, then gave up
        # Readers are never blocked by the writer (WAL, deferred BEGIN).
        with db.transaction(write=False) as s:
            assert s.execute(text("SELECT 1")).scalar() == 1
    db.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_the_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine_for(
        f"sqlite:///{tmp_path / 'new' / 'dir' / 'a.db'}", sqlite_busy_timeout_s=2.5
    )
    with engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 2500}
    assert (tmp_path / "new" / "dir" / "a.db").exists()  # the parent folders were created
    engine.dispose()


def test_urls_are_normalized_to_our_drivers() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+pysqlite"
    with pytest.raises(StorageError, match="sqlite:///PATH or postgresql://"):
        normalize_url("mysql://u@h/db")


def test_lock_study_checks_existence_and_needs_a_write_transaction(db: Database) -> None:
    with db.transaction() as s:
        study_id = make_study(s).id
        assert lock_study(s, study_id).id == study_id
    with pytest.raises(NotFoundError, match="study 999 not found"), db.transaction() as s:
        lock_study(s, 999)
    if db.is_sqlite:
        with (
            pytest.raises(StorageError, match="write transaction"),
            db.transaction(write=False) as s,
        ):
            lock_study(s, study_id)


def test_lock_study_snapshot_skips_a_study_locked_elsewhere(fresh_db: Database) -> None:
    db = fresh_db
    if db.is_sqlite:
        pytest.skip("SQLite locks the whole database at BEGIN IMMEDIATE; no row to skip")
    with db.transaction() as s:
        locked_id, free_id = make_study(s).id, make_study(s).id
    with db.transaction() as holder:
        lock_study(holder, locked_id)
        with db.transaction() as other:
            assert lock_study_snapshot(other, locked_id, skip_locked=True) is None
            free = lock_study_snapshot(other, free_id, skip_locked=True)
            assert free is not None and free.id == free_id
            # The study lock does not block inserting trials that reference the study.
            repo.insert_trial(other, locked_id, {"x": 1}, number=0)


def _backend_pid(db: Database) -> int:
    with db.transaction(write=False) as s:
        return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(admin_url: str, pid: int) -> None:
    engine = create_engine_for(admin_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_pooled_connection_idle_past_the_threshold_is_pinged_and_replaced(
    database_url: str,
) -> None:
    """The server dropped a pooled connection while it sat idle (a restart, a firewall): its
    next checkout pings it, finds it dead, and hands out a new one; the request never sees it."""
    db = Database(create_engine_for(database_url, pool_size=1, idle_ping_after_s=0.05))
    try:
        first = _backend_pid(db)
        _terminate(database_url, first)
        time.sleep(0.2)  # idle past the threshold
        second = _backend_pid(db)
        assert second != first
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_dropped_just_after_use_fails_one_request_then_the_pool_recovers(
    database_url: str,
) -> None:
    """Within the threshold a checkout is not pinged (one round trip saved per transaction
    under load): a connection dropped in that window fails its request with the retryable
    503 error, and SQLAlchemy recycles the pool, so the next request works."""
    db = Database(create_engine_for(database_url, pool_size=1, idle_ping_after_s=3600))
    try:
        first = _backend_pid(db)
        _terminate(database_url, first)
        time.sleep(0.2)  # let the server close it
        with pytest.raises(DatabaseUnavailable, match="retry"):
            _backend_pid(db)
        assert _backend_pid(db) != first
    finally:
        db.dispose()
