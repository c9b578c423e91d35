"""The tables: studies, trials, intermediate reports, workers and comparisons (SQLAlchemy 2.0,
typed). The enums their columns hold live in `hpo.states`.

Any change here needs an Alembic revision in `hpo/storage/migrations/versions/`;
`tests/integration/test_migrations.py` fails while the two disagree.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from hpo.errors import ValidationError
from hpo.states import Direction, FailureClass, StudyState, TrialState
from hpo.storage._types import JsonDocument, UtcDateTime, str_enum, utcnow

# Deterministic constraint names: Alembic can then drop/alter them by name on both backends
# (SQLite batch mode needs names to recreate a table).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy's documented class-level mapping)
        dict[str, Any]: JsonDocument,
        datetime: UtcDateTime(),
    }


class Study(Base):
    """One optimization: a validated spec plus the columns the service filters and sorts on."""

    __tablename__ = "studies"
    __table_args__ = (Index("ix_studies_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Not unique: running the same YAML twice makes a second study of the same name.
    name: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[StudyState] = mapped_column(
        str_enum(StudyState, "study_state"), default=StudyState.RUNNING
    )
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, "direction"))
    sampler: Mapped[str] = mapped_column(String(32))
    pruner: Mapped[str] = mapped_column(String(32), default="none")
    # The full validated spec (task, space, fixed, sampler/pruner options, budget, seed): the
    # source of truth; the columns above and below are copies kept for queries.
    spec: Mapped[dict[str, Any]]
    n_trials: Mapped[int] = mapped_column(Integer)
    max_parallel: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer)
    # Set when the study is one cell of a comparison (samplers x seeds). No foreign key: adding
    # one to an existing SQLite table means recreating it, and dropping the old table would
    # cascade to the trials; the comparison service deletes a comparison's studies itself.
    comparison_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # sha256 (hex) of the study's client token, when it was created with `client_token: true`:
    # the token itself is shown once, in the creation's answer, and never stored.
    client_token_hash: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)
    # Set whenever the study is paused (by a user or by the service), cleared on resume.
    paused_reason: Mapped[str | None] = mapped_column(String(1000))
    # The worker pool that trains it (spec `resources.pool`, hpo.pools): claims filter on it.
    pool: Mapped[str] = mapped_column(String(63), default="default", server_default="default")
    # How many of its trials were imported (`Trial.imported`): they are history for the
    # samplers but not part of the budget, so the budget checks add this to n_trials.
    imported_trials: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The time and quality budgets (copies of spec["budget"], null when off; see
    # hpo/service/stopping.py), and why the study stopped when one of them stopped it.
    max_seconds: Mapped[float | None] = mapped_column(Float)
    max_trial_seconds: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    stop_reason: Mapped[str | None] = mapped_column(String(300))
    # builtin | command (hpo.command_spec): a claim takes only the kinds its worker accepts.
    task_kind: Mapped[str] = mapped_column(String(16), default="builtin", server_default="builtin")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    trials: Mapped[list[Trial]] = relationship(
        back_populates="study", passive_deletes=True, order_by="Trial.number"
    )


class Trial(Base):
    """One evaluation of one configuration, across its attempts (a requeue keeps the row)."""

    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        # Exactly-once configs: grid points and enqueued configs set dedup_key (the params hash);
        # sampled trials leave it NULL, and NULLs never collide, so a random sampler may repeat.
        UniqueConstraint("study_id", "dedup_key"),
        # Leaderboard and best: completed trials of a study ordered by value.
        Index("ix_trials_study_id_state_value", "study_id", "state", "value"),
        # Reaper: running trials whose lease has expired, across studies.
        Index("ix_trials_state_lease_expires_at", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)  # 0, 1, 2... per study, in creation order
    params: Mapped[dict[str, Any]]
    # sha256 of the canonical JSON of params; always set, so any config can be looked up.
    params_hash: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[TrialState] = mapped_column(
        str_enum(TrialState, "trial_state"), default=TrialState.QUEUED
    )
    value: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any] | None]
    # Several objectives and constraints (hpo/objectives.py), set when the trial completes in
    # a study that has them: one value per objective (`value` is the first), each
    # constraint's violation (> 0: broken), and whether none is broken (NULL: no constraints).
    objective_values: Mapped[list[float] | None] = mapped_column(JsonDocument)
    violations: Mapped[list[float] | None] = mapped_column(JsonDocument)
    feasible: Mapped[bool | None] = mapped_column(Boolean)
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # 1 on the first claim's run
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(128))
    device: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    failure_class: Mapped[FailureClass | None] = mapped_column(
        str_enum(FailureClass, "failure_class")
    )
    failure_message: Mapped[str | None] = mapped_column(Text)
    # The latest intermediate report, copied here so lists and the leaderboard need no join.
    last_step: Mapped[int | None] = mapped_column(Integer)
    last_report_value: Mapped[float | None] = mapped_column(Float)
    # The trial that this one's complete-and-claim handed out next, and the sha256 of that
    # lease's token: a retry of the request (same lease token, same value) gets that same
    # lease back while it is live, and nothing else (see `hpo.service.dispatch.lease_binding`).
    next_trial_id: Mapped[int | None] = mapped_column(Integer)
    next_lease_hash: Mapped[str | None] = mapped_column(String(64))
    # Brought in finished from elsewhere (an Optuna study, a JSON export, a warm start's
    # source studies), never run here: history for the samplers, outside the trial budget.
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # A user's note and tags on the trial (PATCH /api/v1/trials/{id}; bounded in api/schemas.py).
    note: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JsonDocument)

    study: Mapped[Study] = relationship(back_populates="trials")

    @validates("value", "last_report_value")
    def _check_finite(self, key: str, value: float | None) -> float | None:
        # SQLite stores NaN as NULL and PostgreSQL sorts it above every number: either would
        # corrupt the leaderboard, so non-finite values never reach the database.
        if value is not None and not math.isfinite(value):
            raise ValidationError(
                f"trial {key} must be a finite number, got {value!r}; a NaN or infinite loss "
                "means the trial diverged: fail it with failure_class 'diverged'"
            )
        return value


class Report(Base):
    """An intermediate value of a trial at a step (an epoch), the input of the pruners."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("trial_id", "step"),
        # Pruners compare trials of one study at one step.
        Index("ix_reports_study_id_step", "study_id", "step"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    # Denormalized from the trial so a study's reports need no join with trials.
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackingOutbox(Base):
    """Finished trials waiting to be logged to the tracking server (MLflow), written in the
    transaction that finished the trial, deleted once logged (hpo/service/tracking/): a
    restart or a tracking server that is down loses nothing."""

    __tablename__ = "tracking_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), index=True, unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Not before this time (a backoff after a failed attempt); null: at once.
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    # The run an earlier attempt created: deleted and made again, so a run is never logged
    # twice when an attempt failed half-way.
    run_id: Mapped[str | None] = mapped_column(String(64))


class TrackingRun(Base):
    """The tracking server's ids of what hpo made there once: an experiment per study or
    comparison, a comparison's parent run and its studies' child runs (key: "study:7",
    "comparison:3", "comparison-study:7")."""

    __tablename__ = "tracking_runs"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))


class Worker(Base):
    """A worker process (or slot) seen by the API; its id is chosen by the worker."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    devices: Mapped[list[str]] = mapped_column(JsonDocument)
    # The pools it serves, as its last claim said; None for rows older than pools (default).
    pools: Mapped[list[str] | None] = mapped_column(JsonDocument, nullable=True)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class Comparison(Base):
    """Several samplers on one task, space and budget, each run as one study per seed (the
    studies point here through `Study.comparison_id`). Its state and curves are derived from
    those studies, so only the spec and the final-training results are stored."""

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The validated comparison spec (task, space, fixed, samplers, n_trials, repeats, seed...).
    spec: Mapped[dict[str, Any]]
    # Test metric of each sampler's winner after final training: sampler name -> record
    # ({test_metric, test_metric_sd, seeds, study_id, trial_id, ...}), sent by `hpo compare
    # --final` (PUT /api/v1/comparisons/{id}/final/{sampler}).
    final: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrialLog(Base):
    """The output of one attempt of a trial (its stdout and stderr, or a built-in trainer's
    epochs): a header row that counts what was kept and dropped, the text in `TrialLogChunk`
    rows. Only the last `max_log_bytes_per_attempt` bytes are kept (hpo.service.logs)."""

    __tablename__ = "trial_logs"
    __table_args__ = (UniqueConstraint("trial_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    # Bytes received in all (kept + dropped): the offset the next chunk starts at.
    total_bytes: Mapped[int] = mapped_column(Integer, default=0)
    dropped_bytes: Mapped[int] = mapped_column(Integer, default=0)
    dropped_lines: Mapped[int] = mapped_column(Integer, default=0)


class TrialLogChunk(Base):
    """A run of whole lines of one attempt's log, starting at byte `offset` of everything the
    attempt sent (so a follower can ask for what came after the offset it has)."""

    __tablename__ = "trial_log_chunks"
    __table_args__ = (Index("ix_trial_log_chunks_log_id_offset", "log_id", "offset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[int] = mapped_column(ForeignKey("trial_logs.id", ondelete="CASCADE"))
    offset: Mapped[int] = mapped_column(Integer)
    n_bytes: Mapped[int] = mapped_column(Integer)  # of `text` in UTF-8
    text: Mapped[str] = mapped_column(Text)
