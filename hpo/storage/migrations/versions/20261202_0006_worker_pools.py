"""Worker pools: studies.pool, workers.pools.

Revision ID: 20261202_0006
Revises: 20261202_0008 (re-chained after main's 0009 at the merge of main)
Create Date: 2026-12-02

A study is trained by the workers of one pool (its spec's `resources.pool`); claims filter on
the column. Existing studies belong to the pool `default`, which every worker serves unless
told otherwise, so nothing routes differently after the upgrade. A worker's row records the
pools its last claim named (for GET /api/v1/workers and a study's `waiting_for`); nullable:
rows written before pools have none, read as `default`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261202_0006"
down_revision: str | None = "20261202_0008"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column(
        "studies",
        sa.Column("pool", sa.String(length=63), nullable=False, server_default="default"),
    )
    op.add_column("workers", sa.Column("pools", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("pools")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("pool")
