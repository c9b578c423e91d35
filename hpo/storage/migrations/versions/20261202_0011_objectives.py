"""Several objectives and constraints: trials.objective_values, trials.violations, trials.feasible.

Revision ID: 20261202_0011
Revises: 20261202_0006
Create Date: 2026-12-02

`objective_values`: one value per objective of the study (JSON list; `value` stays the first,
so single-objective queries are unchanged). `violations`: how far each constraint is broken
(> 0) or met (<= 0). `feasible`: false when a constraint is broken, so `best` and the
leaderboard filter in SQL. All nullable: existing trials (and studies without objectives or
constraints) have none, and NULL counts as feasible.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "20261202_0011"
down_revision: str | None = "20261202_0006"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("trials", sa.Column("objective_values", _JSON, nullable=True))
    op.add_column("trials", sa.Column("violations", _JSON, nullable=True))
    op.add_column("trials", sa.Column("feasible", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("feasible")
        batch.drop_column("violations")
        batch.drop_column("objective_values")
