"""INSERT ... ON CONFLICT DO UPDATE on both backends (same syntax, dialect-specific builders)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def upsert(
    session: Session,
    table: Table,
    values: Mapping[str, Any],
    *,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """Insert a row, or update `update_columns` of the row that has the same `conflict_columns`.

    One statement, so two concurrent upserts of the same key never fail with a unique
    violation (a select-then-insert would, on PostgreSQL).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(**values)
        pg_stmt = pg.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: pg.excluded[name] for name in update_columns},
        )
        session.execute(pg_stmt)
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(**values)
        lite_stmt = lite.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: lite.excluded[name] for name in update_columns},
        )
        session.execute(lite_stmt)
    else:  # pragma: no cover - create_engine_for only builds these two
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
