"""Imported trials: trials.imported, studies.imported_trials.

Revision ID: 20261202_0009
Revises: 20261202_0005
Create Date: 2026-12-02

Trials brought in from elsewhere (an Optuna study, a JSON file, the studies a new study is
warm-started from) are rows like any other, so every sampler reads them as history, but they
are marked, and the study counts them, so that they do not use its trial budget (see
`hpo.service._common.target_trials`). Existing rows: not imported, none counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0009"
down_revision: str | None = "20261202_0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "trials",
        sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "studies",
        sa.Column("imported_trials", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("imported_trials")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("imported")
