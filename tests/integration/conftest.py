"""Real databases for the storage suites: every test that takes `db`, `fresh_db` or
`database_url` runs once on SQLite and once on PostgreSQL.

The schema is migrated once per test session. `db` isolates a test cheaply (see its
docstring); `fresh_db` gives a test its own database, copied from the migrated one (a file copy
for SQLite, `CREATE DATABASE ... TEMPLATE` for PostgreSQL), so it may commit, run threads on
separate connections, and still never see another test's rows.

PostgreSQL: `HPO_TEST_POSTGRES_URL` (default postgresql://postgres@127.0.0.1:5432/postgres)
must name a role allowed to create databases. If it cannot be reached, the PostgreSQL cases
are skipped with the reason, unless `HPO_TEST_REQUIRE_POSTGRES=1` (CI), which fails them.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from hpo.storage import Database, create_engine_for, migrate

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get(
    "HPO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# One prefix per test session, so parallel sessions (and leftovers of a killed one) never clash.
RUN_PREFIX = f"hpo_test_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the maintenance database, for CREATE/DROP DATABASE."""
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except sa_exc.OperationalError as e:
        engine.dispose()
        reason = f"PostgreSQL not reachable at {url.render_as_string(hide_password=True)}: {e}"
        if os.environ.get("HPO_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    with engine.connect() as connection:
        names = connection.scalars(
            text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"{RUN_PREFIX}%"}
        ).all()

    def drop(name: str) -> None:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    # Every DROP DATABASE waits for a checkpoint; concurrent drops share one.
    with ThreadPoolExecutor(max(1, len(names))) as pool:
        list(pool.map(drop, names))
    engine.dispose()


class PostgresDatabases:
    """Creates this session's databases; names start with RUN_PREFIX, and `pg_admin` drops
    them all when the session ends."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self._count = 0

    def create(self, template: str | None = None) -> str:
        self._count += 1
        name = f"{RUN_PREFIX}_{self._count}"
        clause = f' TEMPLATE "{template}" STRATEGY WAL_LOG' if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        return name

    def url(self, name: str) -> str:
        return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_databases(pg_admin: Engine) -> PostgresDatabases:
    return PostgresDatabases(pg_admin)


@pytest.fixture(scope="session")
def pg_template(pg_databases: PostgresDatabases) -> str:
    """A database migrated to head once per session, the template of each test's database."""
    name = pg_databases.create()
    migrate(pg_databases.url(name))
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "hpo.db"
    migrate(f"sqlite:///{path}")  # disposes its engine: the WAL is checkpointed into the file
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own for this test."""
    if backend == "sqlite":
        path = tmp_path / "hpo.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("pg_databases")
    name = databases.create(template=request.getfixturevalue("pg_template"))
    # Dropped with the others at the end of the session: a DROP per test costs as much as
    # the CREATE (fsync), and the test's engine may still hold connections here.
    yield databases.url(name)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """An empty database (no tables) of its own for this test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("pg_databases")
    yield databases.url(databases.create())


@pytest.fixture(scope="session")
def pg_shared_engine(pg_databases: PostgresDatabases, pg_template: str) -> Iterator[Engine]:
    """One migrated PostgreSQL database shared by the `db` tests, each inside a transaction
    that is rolled back at its end."""
    engine = create_engine_for(pg_databases.url(pg_databases.create(template=pg_template)))
    yield engine
    engine.dispose()


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated, empty database for single-threaded tests.

    SQLite: a fresh file (a copy costs a millisecond). PostgreSQL: the shared database, with
    the test's work inside an outer transaction rolled back at the end, each
    `db.transaction()` committing to a savepoint (Polar's pattern; creating a database per
    test costs ~0.5 s here). Tests that need real commits seen by other connections (threads,
    concurrent locks) take `fresh_db` instead.
    """
    if backend == "sqlite":
        yield request.getfixturevalue("fresh_db")
        return
    engine: Engine = request.getfixturevalue("pg_shared_engine")
    with engine.connect() as connection:
        outer = connection.begin()
        try:
            yield Database(engine, bind=connection)
        finally:
            outer.rollback()


@pytest.fixture
def fresh_db(database_url: str) -> Iterator[Database]:
    """A migrated database of the test's own, with real commits and any number of connections."""
    database = Database(create_engine_for(database_url, sqlite_busy_timeout_s=10.0))
    yield database
    database.dispose()


def run_together(n: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in n threads released at the same instant; return results or errors."""
    barrier = threading.Barrier(n)

    def task(i: int) -> object:
        barrier.wait()
        try:
            return work(i)
        except Exception as e:  # collected, so one failure does not hide the others
            return e

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(task, range(n)))
