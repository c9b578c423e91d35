"""A claim's transaction commits without waiting for the WAL flush on PostgreSQL (it holds
the study lock until it commits); everything else, results included, commits normally."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hpo.service.dispatch.claims import commit_without_flush_wait
from hpo.storage import Database

pytestmark = pytest.mark.integration


def test_only_the_claims_transaction_skips_the_flush_wait(fresh_db: Database) -> None:
    if fresh_db.is_sqlite:
        pytest.skip("SQLite in WAL mode with synchronous=NORMAL never waits for a flush")
    with fresh_db.transaction() as session:
        assert session.scalar(text("SHOW synchronous_commit")) == "on"
        commit_without_flush_wait(session)
        assert session.scalar(text("SHOW synchronous_commit")) == "off"
    with fresh_db.transaction() as session:  # SET LOCAL: gone with the transaction
        assert session.scalar(text("SHOW synchronous_commit")) == "on"
