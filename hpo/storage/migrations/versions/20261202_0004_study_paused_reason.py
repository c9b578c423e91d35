"""Why a study is paused: studies.paused_reason.

Revision ID: 20261202_0004
Revises: 20261202_0003
Create Date: 2026-12-02

A study may be paused by a user or by the service (a sampler that fails at claim time, a run of
config errors); the reason is what the API, the CLI and the page show. Nullable: existing
studies have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0004"
down_revision: str | None = "20261202_0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("studies", sa.Column("paused_reason", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("paused_reason")
