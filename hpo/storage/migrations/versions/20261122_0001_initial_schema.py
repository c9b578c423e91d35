"""Initial schema: studies, trials, reports, workers.

Revision ID: 20261122_0001
Revises:
Create Date: 2026-11-22

Column types are spelled out here rather than imported from hpo.storage (a revision must stay
what it was when later code changes): UtcDateTime is a timestamptz / naive-UTC DATETIME, and
enums are VARCHAR(16) with a CHECK constraint.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261122_0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp(name: str, *, nullable: bool) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "state",
            _enum("study_state", "running", "paused", "completed", "cancelled"),
            nullable=False,
        ),
        sa.Column("direction", _enum("direction", "minimize", "maximize"), nullable=False),
        sa.Column("sampler", sa.String(length=32), nullable=False),
        sa.Column("pruner", sa.String(length=32), nullable=False),
        sa.Column("spec", _JSON, nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("comparison_id", sa.Integer(), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
    )
    op.create_index(op.f("ix_studies_comparison_id"), "studies", ["comparison_id"])
    op.create_index(op.f("ix_studies_name"), "studies", ["name"])
    op.create_index("ix_studies_state", "studies", ["state"])

    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("devices", _JSON, nullable=False),
        _timestamp("first_seen", nullable=False),
        _timestamp("last_seen", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )

    op.create_table(
        "trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("params", _JSON, nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("dedup_key", sa.String(length=64), nullable=True),
        sa.Column(
            "state",
            _enum("trial_state", "queued", "running", "completed", "pruned", "failed"),
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("metrics", _JSON, nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("lease_token", sa.String(length=64), nullable=True),
        _timestamp("lease_expires_at", nullable=True),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("device", sa.String(length=64), nullable=True),
        _timestamp("created_at", nullable=False),
        _timestamp("started_at", nullable=True),
        _timestamp("finished_at", nullable=True),
        sa.Column(
            "failure_class",
            _enum(
                "failure_class",
                "lost",
                "diverged",
                "oom",
                "config",
                "user",
                "cancelled",
                "internal",
            ),
            nullable=True,
        ),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("last_report_value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_trials_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.UniqueConstraint("study_id", "dedup_key", name=op.f("uq_trials_study_id_dedup_key")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_trials_study_id_number")),
    )
    op.create_index("ix_trials_state_lease_expires_at", "trials", ["state", "lease_expires_at"])
    op.create_index("ix_trials_study_id_state_value", "trials", ["study_id", "state", "value"])

    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_reports_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["trials.id"],
            name=op.f("fk_reports_trial_id_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("trial_id", "step", name=op.f("uq_reports_trial_id_step")),
    )
    op.create_index("ix_reports_study_id_step", "reports", ["study_id", "step"])


def downgrade() -> None:
    op.drop_table("reports")
    op.drop_table("trials")
    op.drop_table("workers")
    op.drop_table("studies")
