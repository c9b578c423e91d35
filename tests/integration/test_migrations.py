"""Migrations upgrade an empty database to head, and agree with the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hpo.storage import Base, create_engine_for, current_revision, head_revision, migrate
from hpo.storage.migrate import alembic_config
from tests.integration.conftest import run_together

pytestmark = pytest.mark.integration

TABLES = {
    "alembic_version", "comparisons", "reports", "studies", "trials", "workers",
    "tracking_outbox", "tracking_runs", "trial_logs", "trial_log_chunks",
}  # fmt: skip


def test_empty_database_upgrades_to_head_and_matches_the_models(empty_database_url: str) -> None:
    engine = create_engine_for(empty_database_url)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == [], "models.py and the migrations disagree: add a revision (see migrate.py)"
    migrate(engine)  # up to date: a no-op
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    engine = create_engine_for(empty_database_url)
    migrate(engine)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    migrate(empty_database_url)  # from a URL, as `hpo migrate` does
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_concurrent_migrations_do_not_collide(empty_database_url: str) -> None:
    # Several API replicas starting at once each migrate on start.
    results = run_together(3, lambda _: migrate(empty_database_url))
    assert results == [None, None, None]
    assert current_revision(empty_database_url) == head_revision()


def test_migrations_ship_as_package_files() -> None:
    # What `pip install` must carry for migrate() to work without an alembic.ini.
    from hpo.storage.migrate import MIGRATIONS_DIR

    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert any((MIGRATIONS_DIR / "versions").glob("2*_*.py"))
