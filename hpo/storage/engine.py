"""Engines, sessions, the one transaction helper, and the per-study write lock.

    engine = create_engine_for(settings.database_url)
    db = Database(engine)
    with db.transaction() as session:           # a write transaction; commits on success
        study = lock_study(session, study_id)   # serializes writers of this study
        ...
    with db.transaction(write=False) as session:  # a read: never blocks SQLite writers
        ...

Nothing here is a module global: the caller owns the engine and the `Database`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, Select, Table, bindparam, create_engine, event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from hpo.errors import (
    AlreadyExistsError,
    DatabaseUnavailable,
    HpoError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from hpo.storage.claim_order import claimable_studies_in_claim_order
from hpo.storage.models import Study, Trial

# Connection execution option read by our SQLite "begin" hook: which BEGIN to emit.
_SQLITE_BEGIN = "hpo_sqlite_begin"


def normalize_url(url: str | URL) -> URL:
    """Accept the URLs people type and pick our drivers: `postgresql://` and `postgres://`
    mean psycopg 3; `sqlite:///file` means the standard library's sqlite3."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    raise StorageError(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///PATH "
        "or postgresql://USER@HOST/DB"
    )


def create_engine_for(
    url: str | URL,
    *,
    sqlite_busy_timeout_s: float = 30.0,
    idle_ping_after_s: float | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine for SQLite or PostgreSQL, configured for concurrent writers.

    SQLite: WAL (readers never block the writer), a busy timeout (a writer waits for the lock
    instead of failing at once), foreign keys on (so deleting a study cascades), and our own
    BEGIN so that write transactions start with `BEGIN IMMEDIATE` (see `Database.transaction`).
    The parent folder of a database file is created if missing.
    PostgreSQL: psycopg 3. A pooled connection idle for `idle_ping_after_s` (default
    `IDLE_PING_AFTER_S`) or more is pinged when checked out, and replaced if the server
    dropped it (see `_ping_when_idle`).
    Extra keyword arguments go to `sqlalchemy.create_engine`.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database not in ("", ":memory:") and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": sqlite_busy_timeout_s}, **kwargs)
        _configure_sqlite(engine, sqlite_busy_timeout_s)
    else:
        engine = create_engine(parsed, **kwargs)
    _ping_when_idle(engine, IDLE_PING_AFTER_S if idle_ping_after_s is None else idle_ping_after_s)
    return engine


# A pooled connection unused for this long is pinged before it is handed out.
IDLE_PING_AFTER_S = 1.0


def _ping_when_idle(engine: Engine, after_s: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for connections idle for `after_s` or more.

    `pool_pre_ping` pings on every checkout: one more round trip per transaction, and under
    load (bench/dispatch_throughput.py) a claim and a complete are one transaction each, so 2
    of the ~17 statements per trial were `SELECT 1`. A connection back in the pool a moment
    ago was working a moment ago; what a ping is for is one that sat idle while the database
    restarted or a firewall dropped it, and those are still pinged (as `pool_pre_ping` does on
    a failed ping, `InvalidatePoolError` replaces this connection and recycles every older
    one, so that after a database restart the pool starts over). A connection dropped within
    the last `after_s` fails its request instead (503, which workers and the client retry),
    and SQLAlchemy then recycles every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["hpo_checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("hpo_checked_in_at")
        if checked_in is None or time.monotonic() - checked_in < after_s:
            return  # new (just connected), or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:  # the driver's own error types differ by dialect
            raise sa_exc.InvalidatePoolError(f"pooled connection failed its ping: {e}") from e


def _configure_sqlite(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver (its legacy mode starts transactions late,
        # only before DML); the "begin" hook below emits it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            _enable_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA foreign_keys=ON")
            # Safe with WAL (a power loss may lose the last commits, never corrupts).
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock now, waiting up to the busy timeout. A deferred
        # transaction that reads and then writes can instead fail at once with SQLITE_BUSY
        # when another writer committed in between, so every write transaction is IMMEDIATE.
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _enable_wal(cursor: Any, timeout_s: float) -> None:
    """Switch a database file to WAL. Switching needs an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, while another connection holds
    one: several processes opening a new database together (API replicas migrating on start)
    hit that. So retry until the timeout; once a file is in WAL the pragma is a cheap read."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class Database:
    """An engine plus its session factory: what the service and the API are handed.

    `__init__` does no I/O; connections open on the first transaction.
    """

    def __init__(self, engine: Engine, *, bind: Connection | None = None) -> None:
        """`bind` is for tests: a connection already inside an outer transaction, which the
        test rolls back at its end; each `transaction()` then commits to a savepoint."""
        self.engine = engine
        # expire_on_commit=False: rows returned from a transaction stay readable after it.
        self.sessions = sessionmaker(
            bind if bind is not None else engine,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: yields a Session, commits when the block ends, or rolls back.

        Driver errors become domain errors (`raise ... from e`): a unique violation ->
        `AlreadyExistsError` (409); a foreign key to a missing row -> `NotFoundError` (404); a
        lost or refused connection, a lock timeout -> `DatabaseUnavailable` (503); anything
        else from the driver -> `StorageError` (500). Our own `HpoError`s pass through
        unchanged (after the rollback).

        `write=True` (the default) starts the transaction at once; on SQLite with
        `BEGIN IMMEDIATE`, which holds the database's single write lock until commit, so every
        write transaction is serialized there. Use `write=False` for reads: on SQLite they then
        never wait for writers (WAL); on PostgreSQL the flag changes nothing.
        """
        session = self.sessions()
        try:
            if write:
                # Procure the connection now, so BEGIN IMMEDIATE (and any wait for the lock)
                # happens before the caller's first statement, not in the middle of it.
                session.connection(execution_options={_SQLITE_BEGIN: "IMMEDIATE"})
            yield session
            session.commit()
        except sa_exc.SQLAlchemyError as e:
            session.rollback()
            raise to_domain_error(e) from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or in tests before dropping a database)."""
        self.engine.dispose()


def to_domain_error(error: sa_exc.SQLAlchemyError) -> HpoError:
    """Map a SQLAlchemy/driver error to the domain error tree (the cause stays chained)."""
    detail = str(getattr(error, "orig", None) or error).splitlines()[0]
    if isinstance(error, sa_exc.IntegrityError):
        kind = _integrity_kind(error)
        if kind == "unique":
            return AlreadyExistsError(f"already exists: {detail}")
        if kind == "foreign_key":
            return NotFoundError(f"refers to a row that does not exist (deleted?): {detail}")
        # NOT NULL / CHECK: input that validation should have caught, i.e. a bug of ours.
        return StorageError(f"invalid row rejected by the database: {detail}")
    if _is_disk_full(error):
        return DatabaseUnavailable(
            f"the database's disk is full ({detail}): nothing of this request was written; free "
            "space on the disk that holds the database, then retry"
        )
    if isinstance(error, sa_exc.DataError):
        # A value the column type cannot hold (PostgreSQL: an id or offset beyond 64 bits):
        # the request's fault, so a 400, not a 500.
        return ValidationError(f"a value is out of range for the database: {detail}")
    if _is_unavailable(error):
        return DatabaseUnavailable(
            f"database unavailable or busy ({detail}); retry shortly, and check that the "
            "database server is running and reachable"
        )
    if "no such table" in detail or "does not exist" in detail:
        return StorageError(f"database error: {detail}; is the schema missing? run `hpo migrate`")
    return StorageError(f"database error: {detail}")


def _integrity_kind(error: sa_exc.IntegrityError) -> str:
    """'unique', 'foreign_key' or 'other', from the SQLSTATE (psycopg) or the extended error
    name (sqlite3)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate is not None:
        return {"23505": "unique", "23503": "foreign_key"}.get(str(sqlstate), "other")
    name = str(getattr(error.orig, "sqlite_errorname", ""))
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
        return "unique"
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return "foreign_key"
    return "other"


# sqlite3 raises OperationalError for "no such table" and syntax errors too; only these
# (by the extended error name Python 3.11+ attaches) mean the database is busy or unreachable.
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def _is_disk_full(error: sa_exc.SQLAlchemyError) -> bool:
    """SQLite's SQLITE_FULL, or PostgreSQL's disk_full (SQLSTATE 53100)."""
    orig = getattr(error, "orig", None)
    name = str(getattr(orig, "sqlite_errorname", ""))
    return name.startswith("SQLITE_FULL") or getattr(orig, "sqlstate", None) == "53100"


def _is_unavailable(error: sa_exc.SQLAlchemyError) -> bool:
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection became free in time
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    sqlite_name = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_name is None:
        # psycopg: OperationalError is connection trouble, lock timeouts, serialization
        # failures, server shutdown: all worth a retry.
        return True
    return str(sqlite_name).startswith(_SQLITE_UNAVAILABLE)


def lock_study(session: Session, study_id: int) -> Study:
    """Take the per-study write lock for the rest of the transaction and return the study.

    Everything that must not interleave for one study (numbering trials, asking the sampler,
    claiming grid points) runs after this call in the same transaction. PostgreSQL: a row lock
    on the study (`SELECT ... FOR NO KEY UPDATE`: it excludes other lockers and updates of
    the study, but not inserts of trials or reports that merely reference it). SQLite: the
    write transaction already holds the whole database (`BEGIN IMMEDIATE`), so this only loads
    the row. Raises `NotFoundError` if the study does not exist, and `StorageError` if called
    outside a write transaction on SQLite (where it would not lock anything).
    """
    study = _select_study_for_update(session, study_id, skip_locked=False)
    if study is None:
        raise NotFoundError(f"study {study_id} not found; list studies with GET /api/v1/studies")
    return study


def try_lock_study(session: Session, study_id: int) -> Study | None:
    """Like `lock_study`, but returns None at once when another transaction holds the lock
    (PostgreSQL `SKIP LOCKED`) or the study is gone: a claimer then moves to the next study."""
    return _select_study_for_update(session, study_id, skip_locked=True)


def lock_study_snapshot(session: Session, study_id: int, *, skip_locked: bool) -> Study | None:
    """`lock_study` (`skip_locked=False`) or `try_lock_study` (True) for the claim's hot path:
    the same lock, taken by a statement built once and run on the connection, and the row
    returned as a *transient* `Study` (not in the session: changing it saves nothing; load
    the study with `session.get` to change it). None when the study is gone or, with
    `skip_locked`, locked by another transaction. Several times cheaper in CPU than loading
    the ORM object (measured: bench/dispatch_throughput.py)."""
    connection = _write_connection(session)
    statement = _LOCK_SKIP_LOCKED if skip_locked else _LOCK_WAIT
    row = connection.execute(statement, {"sid": study_id}).one_or_none()
    return None if row is None else Study(**row._mapping)


def lock_least_busy_study(session: Session, *, skip_locked: bool) -> Study | None:
    """Lock and return the claimable study (running, with a free parallel slot) that has the
    fewest running trials (then the oldest), in one statement: what a claim takes first,
    so that concurrent studies share the workers. With `skip_locked`, studies locked by
    another transaction are passed over (the next least busy is taken; None if all are
    locked); without, the least busy is waited for. Returned as `lock_study_snapshot` does.

    The running counts are those of the statement's snapshot, taken before any wait for the
    lock: the caller re-reads the study's active trials under the lock, and moves on to the
    other studies if this one turns out to have no room."""
    connection = _write_connection(session)
    statement = _LEAST_BUSY_SKIP_LOCKED if skip_locked else _LEAST_BUSY_WAIT
    row = connection.execute(statement).one_or_none()
    return None if row is None else Study(**row._mapping)


_STUDIES = cast(Table, Study.__table__)
_LOCK_WAIT = (
    select(*_STUDIES.c)
    .where(_STUDIES.c.id == bindparam("sid"))
    .with_for_update(key_share=True, skip_locked=False)
)
_TRIALS = cast(Table, Trial.__table__)


def _least_busy_statement(*, skip_locked: bool) -> Select[Any]:
    return (
        claimable_studies_in_claim_order(*_STUDIES.c)
        .limit(1)
        # Only the study's row is locked (not the aggregates': PostgreSQL refuses that).
        .with_for_update(of=_STUDIES, key_share=True, skip_locked=skip_locked)
    )


_LEAST_BUSY_SKIP_LOCKED = _least_busy_statement(skip_locked=True)
_LEAST_BUSY_WAIT = _least_busy_statement(skip_locked=False)
_LOCK_SKIP_LOCKED = (
    select(*_STUDIES.c)
    .where(_STUDIES.c.id == bindparam("sid"))
    .with_for_update(key_share=True, skip_locked=True)
)


def _write_connection(session: Session) -> Connection:
    connection = session.connection()
    if (
        connection.dialect.name == "sqlite"
        and connection.get_execution_options().get(_SQLITE_BEGIN) != "IMMEDIATE"
    ):
        raise StorageError("lock_study needs a write transaction: use db.transaction(write=True)")
    return connection


def _select_study_for_update(session: Session, study_id: int, *, skip_locked: bool) -> Study | None:
    _write_connection(session)
    # populate_existing: if the study is already in the session, refresh it from the locked row.
    statement = (
        select(Study)
        .where(Study.id == study_id)
        .with_for_update(key_share=True, skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
    return session.scalars(statement).one_or_none()
