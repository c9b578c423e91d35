"""Per-study client tokens for ask/tell: studies.client_token_hash.

Revision ID: 20261202_0003
Revises: 20261122_0002
Create Date: 2026-12-02

A nullable column and a unique index: no table is rebuilt on SQLite, and existing studies
simply have no client token. Only the token's sha256 is stored (the token is shown once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0003"
down_revision: str | None = "20261122_0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("studies", sa.Column("client_token_hash", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_studies_client_token_hash"), "studies", ["client_token_hash"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_studies_client_token_hash"), table_name="studies")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("client_token_hash")
