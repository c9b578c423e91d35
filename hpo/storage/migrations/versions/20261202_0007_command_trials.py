"""Command trials: studies.task_kind (what a claim filters on) and the failure class `timeout`.

Revision ID: 20261202_0007
Revises: 20261202_0010
Create Date: 2026-12-02

A worker claims only the task kinds it accepts (a worker started without --allow-commands never
runs a command trial), so the claim's statements filter studies by their task's kind: a column
rather than a JSON path into the spec, so the claim's hot statements stay plain on both
backends. Existing studies are all built-in.

A command trial that runs past its task's `timeout_s` fails as `timeout`, the failure class
that migration 0010 (budgets: `max_trial_seconds`) already allows in trials.failure_class's
CHECK constraint; this one adds nothing to it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0007"
down_revision: str | None = "20261202_0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "studies",
        sa.Column("task_kind", sa.String(length=16), nullable=False, server_default="builtin"),
    )


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("task_kind")
