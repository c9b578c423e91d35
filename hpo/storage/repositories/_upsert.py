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
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """Insert a row, or update `update_columns` of the row that has the same `conflict_columns`
    (several rows: one multi-row statement; no two of them may share a key).

    One statement, so two concurrent upserts of the same key never fail with a unique
    violation (a select-then-insert would, on PostgreSQL).
    """
    dialect = session.get_bind().dialect.name
    rows: Any = dict(values) if isinstance(values, Mapping) else [dict(row) for row in values]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(rows)
        pg_stmt = pg.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: pg.excluded[name] for name in update_columns},
        )
        session.execute(pg_stmt)
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(rows)
        lite_stmt = lite.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: lite.excluded[name] for name in update_columns},
        )
        session.execute(lite_stmt)
    else:  # pragma: no cover - create_engine_for only builds these two
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
