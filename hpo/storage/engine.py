"""Engine set-up for SQLite and PostgreSQL: the URL's driver, WAL and busy timeout, our own
BEGIN on SQLite, pinging pooled connections that sat idle.

    engine = create_engine_for(settings.database_url,
                               sqlite_busy_timeout_s=settings.sqlite_busy_timeout_seconds)

The transaction helper (`Database`) is in `hpo.storage.transactions`, the lock statements in
`hpo.storage.repositories.locks`. Nothing here is a module global: the caller owns the engine.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url

from hpo.errors import StorageError
from hpo.storage.transactions import SQLITE_BEGIN


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
    BEGIN so that write transactions start with `BEGIN IMMEDIATE` (see
    `hpo.storage.transactions.Database.transaction`).
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
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
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
