"""Intermediate reports (trial, step, value): written by workers each epoch, read by pruners."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from hpo.errors import ValidationError
from hpo.states import TrialState
from hpo.storage._types import utcnow
from hpo.storage.models import Report, Trial
from hpo.storage.repositories._upsert import upsert

# What the pruners read: trial id -> [(step, value), ...] sorted by step.
StudyReports = dict[int, list[tuple[int, float]]]


def _check_report(step: int, value: float) -> None:
    if not math.isfinite(value):
        raise ValidationError(
            f"report value at step {step} is {value!r}; report finite values only, and fail "
            "a trial whose loss became NaN or infinite with failure_class 'diverged'"
        )
    if step < 0:
        raise ValidationError(f"report step must be >= 0, got {step}")


def record_report(session: Session, trial: Trial, step: int, value: float) -> None:
    """Store the trial's value at `step`, replacing an earlier value at the same step.

    Replacing, not failing: a worker that retries a report after a network error must get
    the same answer, not a 409. Also copies the latest report onto the trial
    (`last_step`, `last_report_value`). Non-finite values are refused: a NaN loss is a
    diverged trial, to be failed as such.
    """
    _check_report(step, value)
    upsert(
        session,
        Report.__table__,  # type: ignore[arg-type]
        {
            "trial_id": trial.id,
            "study_id": trial.study_id,
            "step": step,
            "value": value,
            "created_at": utcnow(),
        },
        conflict_columns=("trial_id", "step"),
        update_columns=("value", "created_at"),
    )
    if trial.last_step is None or step >= trial.last_step:
        trial.last_step = step
        trial.last_report_value = value


def record_reports(
    session: Session, trial_id: int, study_id: int, reports: Sequence[tuple[int, float]]
) -> tuple[int, float] | None:
    """Store several reports of one trial in one statement, as `record_report` would one by
    one (a step given twice keeps the later value, as would a report repeated). Returns the
    (step, value) the trial's `last_step` / `last_report_value` would take from them, the
    highest step's, for the caller to apply (`apply_last_report`); None for no reports."""
    latest: dict[int, float] = {}
    for step, value in reports:
        _check_report(step, value)
        latest[step] = value
    if not latest:
        return None
    now = utcnow()
    rows = [
        {"trial_id": trial_id, "study_id": study_id, "step": step, "value": value,
         "created_at": now}
        for step, value in latest.items()
    ]  # fmt: skip
    upsert(
        session,
        Report.__table__,  # type: ignore[arg-type]
        rows,
        conflict_columns=("trial_id", "step"),
        update_columns=("value", "created_at"),
    )
    top = max(latest)
    return top, latest[top]


def apply_last_report(session: Session, trial_id: int, step: int, value: float) -> None:
    """`last_step` / `last_report_value` of a trial the session holds no object of (the
    complete's path: its row came from one UPDATE ... RETURNING), as `record_report` sets
    them: only forward (a step at or above the trial's last one)."""
    session.execute(
        update(Trial)
        .where(Trial.id == trial_id, or_(Trial.last_step.is_(None), Trial.last_step <= step))
        .values(last_step=step, last_report_value=value)
        .execution_options(synchronize_session=False)
    )


def study_reports(
    session: Session,
    study_id: int,
    *,
    trial_states: Iterable[TrialState] | None = None,
    max_step: int | None = None,
) -> StudyReports:
    """Every report of a study grouped by trial: the pruners' input.

    `trial_states` keeps only trials in those states (e.g. leave out failed trials);
    `max_step` keeps only steps up to the one being decided, which bounds the rows read. The
    median pruner never looks beyond that step; ASHA can, but only for a trial that skipped
    a rung's exact step (its rung value is its first report after it), so with reports at
    every step (every epoch) `max_step=step` changes no decision.
    """
    statement = select(Report.trial_id, Report.step, Report.value).where(
        Report.study_id == study_id
    )
    if max_step is not None:
        statement = statement.where(Report.step <= max_step)
    if trial_states is not None:
        statement = statement.join(Trial, Trial.id == Report.trial_id).where(
            Trial.state.in_(list(trial_states))
        )
    grouped: StudyReports = {}
    for trial_id, step, value in session.execute(statement.order_by(Report.trial_id, Report.step)):
        grouped.setdefault(trial_id, []).append((step, value))
    return grouped
