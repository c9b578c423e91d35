"""Time and quality budgets, trial notes and tags, the tracking outbox, the timeout failure.

Revision ID: 20261202_0010
Revises: 20261202_0005
Create Date: 2026-12-02

- studies.max_seconds, max_trial_seconds, target (copies of the spec's budget, null when off)
  and stop_reason (why a budget stopped the study).
- trials.note, trials.tags (a user's annotations).
- tracking_outbox (finished trials waiting for MLflow) and tracking_runs (the ids hpo made
  there), so a restart or an unavailable tracking server loses nothing.
- failure_class gains "timeout" (a trial past budget.max_trial_seconds): its CHECK
  constraint is changed in place (SQLite: see `_rewrite_sqlite_check`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_0010"
down_revision: str | None = "20261202_0009"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_OLD_CLASSES = ("lost", "diverged", "oom", "config", "user", "cancelled", "internal")
_NEW_CLASSES = (*_OLD_CLASSES, "timeout")


def upgrade() -> None:
    # Plain ADD COLUMNs on both backends: a batch recreation of studies (or trials) on SQLite
    # would drop the old table, and with foreign keys on that cascades to every child row.
    op.add_column("studies", sa.Column("max_seconds", sa.Float(), nullable=True))
    op.add_column("studies", sa.Column("max_trial_seconds", sa.Float(), nullable=True))
    op.add_column("studies", sa.Column("target", sa.Float(), nullable=True))
    op.add_column("studies", sa.Column("stop_reason", sa.String(length=300), nullable=True))
    op.add_column("trials", sa.Column("note", sa.Text(), nullable=True))
    op.add_column("trials", sa.Column("tags", _JSON, nullable=True))
    _set_failure_classes(_NEW_CLASSES)
    op.create_table(
        "tracking_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_tracking_outbox_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_outbox")),
    )
    op.create_index(
        op.f("ix_tracking_outbox_trial_id"), "tracking_outbox", ["trial_id"], unique=True
    )
    op.create_table(
        "tracking_runs",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_tracking_runs")),
    )


def downgrade() -> None:
    op.drop_table("tracking_runs")
    op.drop_index(op.f("ix_tracking_outbox_trial_id"), table_name="tracking_outbox")
    op.drop_table("tracking_outbox")
    op.execute("UPDATE trials SET failure_class = 'internal' WHERE failure_class = 'timeout'")
    _set_failure_classes(_OLD_CLASSES)
    # Plain DROP COLUMNs (SQLite 3.35+), not a batch recreation: see `upgrade`.
    for column in ("tags", "note"):
        op.drop_column("trials", column)
    for column in ("stop_reason", "target", "max_trial_seconds", "max_seconds"):
        op.drop_column("studies", column)


def _set_failure_classes(values: tuple[str, ...]) -> None:
    """Make trials.failure_class's CHECK constraint (ck_trials_failure_class) allow exactly
    `values`; every stored value must be among them."""
    quoted = ", ".join(f"'{value}'" for value in values)
    if op.get_bind().dialect.name == "sqlite":
        _rewrite_sqlite_check(f"failure_class IN ({quoted})")
        return
    name = op.f("ck_trials_failure_class")
    op.drop_constraint(name, "trials", type_="check")
    op.create_check_constraint(name, "trials", f"failure_class IN ({quoted})")


def _rewrite_sqlite_check(condition: str) -> None:
    """SQLite cannot alter a constraint, and recreating `trials` (batch mode) would drop the
    old table, which with foreign keys on deletes every report. SQLite's documented procedure
    for changing a CHECK constraint instead (sqlite.org/lang_altertable.html, "other kinds of
    table schema changes"): edit the table's SQL in the schema and bump schema_version, in
    this transaction. Safe here because every stored row satisfies the new condition."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'trials'"
    ).scalar_one()
    # The condition as SQLAlchemy wrote it: failure_class IN ('lost', ..., 'internal').
    pattern = re.compile(
        r"CONSTRAINT ck_trials_failure_class CHECK \((failure_class IN \([^)]*\))\)"
    )
    match = pattern.search(sql)
    if match is None:
        raise RuntimeError("trials: no ck_trials_failure_class CHECK constraint to change")
    new_sql = sql[: match.start(1)] + condition + sql[match.end(1) :]
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'trials'", (new_sql,)
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
