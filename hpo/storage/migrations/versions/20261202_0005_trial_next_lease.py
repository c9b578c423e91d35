"""The lease a complete-and-claim handed out: trials.next_trial_id, trials.next_lease_hash.

Revision ID: 20261202_0005
Revises: 20261202_0004
Create Date: 2026-12-02

A retried complete-and-claim (its answer was lost) gets the next lease its first attempt made,
found through the completed trial's row, never by the worker id in the request (which anyone
may send). No foreign key: the next trial may be in another study, deleted since; the token
hash is what proves the lease is still the one handed out. Nullable: existing trials have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0005"
down_revision: str | None = "20261202_0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("trials", sa.Column("next_trial_id", sa.Integer(), nullable=True))
    op.add_column("trials", sa.Column("next_lease_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("next_lease_hash")
        batch.drop_column("next_trial_id")
