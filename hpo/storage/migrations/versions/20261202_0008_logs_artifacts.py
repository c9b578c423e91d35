"""Trial logs: trial_logs (one row per attempt) and trial_log_chunks (its text).

Revision ID: 20261202_0008
Revises: 20261202_0007
Create Date: 2026-12-02

Artifacts need no table: the artifact store keeps them as files (hpo.artifacts).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0008"
down_revision: str | None = "20261202_0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "trial_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("total_bytes", sa.Integer(), nullable=False),
        sa.Column("dropped_bytes", sa.Integer(), nullable=False),
        sa.Column("dropped_lines", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["trials.id"], name="fk_trial_logs_trial_id_trials", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_trial_logs"),
        sa.UniqueConstraint("trial_id", "attempt", name="uq_trial_logs_trial_id_attempt"),
    )
    op.create_table(
        "trial_log_chunks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("n_bytes", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["trial_logs.id"],
            name="fk_trial_log_chunks_log_id_trial_logs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_trial_log_chunks"),
    )
    op.create_index("ix_trial_log_chunks_log_id_offset", "trial_log_chunks", ["log_id", "offset"])


def downgrade() -> None:
    op.drop_index("ix_trial_log_chunks_log_id_offset", table_name="trial_log_chunks")
    op.drop_table("trial_log_chunks")
    op.drop_table("trial_logs")
