"""INSERT ... ON CONFLICT DO UPDATE on both backends (same syntax, dialect-specific builders)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


def upsert(
    session: Session,
    table: Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    conflict_columns: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """Insert a row, or update `update_columns` of the row that has the same `conflict_columns`
    (several rows: one executemany; no two of them may share a key).

    One statement, so two concurrent upserts of the same key never fail with a unique
    violation (a select-then-insert would, on PostgreSQL). The statement is built once per
    table and columns, the rows passed as parameters: building it per call (its `excluded`
    alias, a bound parameter per value) was most of a report's SQL cost (bench/orchestration.py
    --profile-server).
    """
    dialect = session.get_bind().dialect.name
    statement = _statement(dialect, table, tuple(conflict_columns), tuple(update_columns))
    rows: Any = dict(values) if isinstance(values, Mapping) else [dict(row) for row in values]
    session.execute(statement, rows)


@functools.cache
def _statement(
    dialect: str, table: Table, conflict_columns: tuple[str, ...], update_columns: tuple[str, ...]
) -> Insert:
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: pg.excluded[name] for name in update_columns},
        )
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        return lite.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={name: lite.excluded[name] for name in update_columns},
        )
    raise NotImplementedError(f"upsert is not implemented for {dialect}")  # pragma: no cover
