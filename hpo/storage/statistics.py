"""Keeping PostgreSQL's planner statistics of the trials table current.

The claim path's statements are index lookups only when the planner knows the trials table
is large. Its statistics come from ANALYZE, which autovacuum runs as the table changes; with
autovacuum off (measured: this project's CI machine runs PostgreSQL so) or lagging behind a
table that grows by thousands of trials a minute, the planner keeps the estimate it made of
the empty table and picks plans that read a study's whole history on every claim
(bench/RESULTS.md, "Why every row declines"). So the service analyzes the table itself when
it changed by more than `ANALYZE_AFTER` rows plus a tenth of it since the last ANALYZE (by
autovacuum or by us): about what autovacuum's own default threshold is, so with autovacuum
on and keeping up this rarely runs. SQLite's planner needs no statistics for these lookups.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger("hpo.storage.statistics")

ANALYZE_AFTER = 1000  # rows changed, plus a tenth of the table

_CHANGED = text(
    "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables"
    " WHERE relname = 'trials' AND schemaname = current_schema()"
)


def analyze_trials_if_stale(session: Session) -> bool:
    """ANALYZE the trials table when its statistics are stale (see the module docstring);
    True when it did. One cheap catalog read otherwise."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return False
    row = connection.execute(_CHANGED).one_or_none()
    if row is None:
        return False
    changed, live = int(row[0] or 0), int(row[1] or 0)
    if changed < ANALYZE_AFTER + live // 10:
        return False
    connection.exec_driver_sql("ANALYZE trials")
    log.info("analyzed the trials table (%s rows changed since its last statistics)", changed)
    return True
