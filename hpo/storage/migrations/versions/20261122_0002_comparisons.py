"""Comparisons: samplers x seeds on one task and budget.

Revision ID: 20261122_0002
Revises: 20261122_0001
Create Date: 2026-11-22

Only a new table: studies.comparison_id already exists (indexed) and stays without a foreign
key (see models.Study), so no existing table is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261122_0002"
down_revision: str | None = "20261122_0001"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("final", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparisons")),
    )


def downgrade() -> None:
    op.drop_table("comparisons")
