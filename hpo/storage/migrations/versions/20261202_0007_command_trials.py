"""Command trials: studies.task_kind (what a claim filters on) and the failure class `timeout`.

Revision ID: 20261202_0007
Revises: 20261202_0005
Create Date: 2026-12-02

A worker claims only the task kinds it accepts (a worker started without --allow-commands never
runs a command trial), so the claim's statements filter studies by their task's kind: a column
rather than a JSON path into the spec, so the claim's hot statements stay plain on both
backends. Existing studies are all built-in.

A command trial that runs past its task's `timeout_s` fails as `timeout`: the CHECK constraint on
trials.failure_class gains that value. PostgreSQL drops and re-creates the constraint. SQLite
cannot alter a constraint, and rebuilding `trials` would drop its table first, which with
foreign keys on cascades to every report; widening a CHECK changes nothing stored, so the table's
schema text is edited in place (the procedure the SQLite manual gives for such changes:
https://www.sqlite.org/lang_altertable.html, "writable_schema").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0007"
down_revision: str | None = "20261202_0005"
branch_labels: str | None = None
depends_on: str | None = None

_BEFORE = ("lost", "diverged", "oom", "config", "user", "cancelled", "internal")
_AFTER = (*_BEFORE, "timeout")
_CONSTRAINT = "ck_trials_failure_class"


def upgrade() -> None:
    op.add_column(
        "studies",
        sa.Column("task_kind", sa.String(length=16), nullable=False, server_default="builtin"),
    )
    _failure_classes(_BEFORE, _AFTER)


def downgrade() -> None:
    op.execute("UPDATE trials SET failure_class = 'internal' WHERE failure_class = 'timeout'")
    _failure_classes(_AFTER, _BEFORE)
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("task_kind")


def _check(values: tuple[str, ...]) -> str:
    return "failure_class IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _failure_classes(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(_CONSTRAINT), "trials", type_="check")
        # The name as given: the naming convention would prefix it a second time.
        op.create_check_constraint(op.f(_CONSTRAINT), "trials", _check(new))
        return
    row = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'trials'"
    ).one()
    before = f"CONSTRAINT {_CONSTRAINT} CHECK ({_check(old)})"
    if before not in row[0]:
        raise RuntimeError(f"trials: {_CONSTRAINT} is not {before!r}; migrate by hand")
    after = f"CONSTRAINT {_CONSTRAINT} CHECK ({_check(new)})"
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'trials'",
        (row[0].replace(before, after),),
    )
    # A new schema version makes every connection re-read the schema (and the new CHECK).
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
