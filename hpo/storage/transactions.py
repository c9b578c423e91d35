"""The one transaction helper (`Database.transaction`) and the mapping of driver errors to
domain errors.

    db = Database(create_engine_for(settings.database_url))
    with db.transaction() as session:           # a write transaction; commits on success
        study = lock_study(session, study_id)   # hpo.storage.repositories.locks
        ...
    with db.transaction(write=False) as session:  # a read: never blocks SQLite writers
        ...

Nothing here is a module global: the caller owns the engine and the `Database`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from hpo.errors import (
    AlreadyExistsError,
    DatabaseUnavailable,
    HpoError,
    NotFoundError,
    StorageError,
    ValidationError,
)

# Connection execution option read by the engine's SQLite "begin" hook (`hpo.storage.engine`):
# which BEGIN to emit. A write transaction sets it to "IMMEDIATE".
SQLITE_BEGIN = "hpo_sqlite_begin"


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
                session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
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


def write_connection(session: Session) -> Connection:
    """The session's connection, checked to be in a write transaction: on SQLite only
    `db.transaction(write=True)` holds the write lock that the lock statements rely on there
    (`hpo.storage.repositories.locks`), so anything else is a bug, refused."""
    connection = session.connection()
    if (
        connection.dialect.name == "sqlite"
        and connection.get_execution_options().get(SQLITE_BEGIN) != "IMMEDIATE"
    ):
        raise StorageError("lock_study needs a write transaction: use db.transaction(write=True)")
    return connection


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
