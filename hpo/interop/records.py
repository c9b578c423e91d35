"""A study and its trials as plain values, read from and written to the database: what the
JSON format, the Optuna export and import, and warm starts are built on.

`read_study` takes a study out of the database (trials by number, each with its reports);
`store_study` writes such a record as a new study (a JSON import); `append_imported` adds
finished trials to an existing study as imported (an Optuna import, a warm start): numbered
after its last trial, marked `imported`, and counted in `Study.imported_trials`, so they are
history for its samplers but use none of its budget (`hpo.service._common.target_trials`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hpo.errors import ValidationError
from hpo.space import SearchSpace, space_from_dict
from hpo.states import Direction, FailureClass, StudyState, TrialState
from hpo.storage import repositories as repo
from hpo.storage._types import utcnow
from hpo.storage.models import Report, Study, Trial

FINISHED_STATES = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its configuration, outcome, intermediate reports (step, value) by step,
    and when it ran. `id` is the trial's id where it was read from (None for a new one)."""

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None = None
    metrics: dict[str, Any] | None = None
    reports: tuple[tuple[int, float], ...] = ()
    failure_class: FailureClass | None = None
    failure_message: str | None = None
    attempt: int = 1
    worker_id: str | None = None
    device: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    imported: bool = False
    # Enqueued or a grid point: at most once per study (`Trial.dedup_key` is its params hash).
    exactly_once: bool = False
    id: int | None = None

    def __post_init__(self) -> None:
        for what, value in (("value", self.value), *(("report", v) for _, v in self.reports)):
            if value is not None and not math.isfinite(value):
                raise ValidationError(
                    f"trial {self.number}: its {what} is {value!r}; only finite values are "
                    "stored (a diverged trial is failed with failure_class 'diverged')"
                )
        if self.state is TrialState.COMPLETED and self.value is None:
            raise ValidationError(f"trial {self.number} is completed but has no value")


@dataclass(frozen=True)
class StudyRecord:
    """One study: its validated spec and the columns kept beside it, and its trials."""

    name: str
    direction: Direction
    sampler: str
    pruner: str
    spec: dict[str, Any]
    n_trials: int
    max_parallel: int
    max_attempts: int
    state: StudyState = StudyState.RUNNING
    seed: int | None = None
    paused_reason: str | None = None
    created_at: datetime | None = None
    trials: tuple[TrialRecord, ...] = field(default_factory=tuple)
    id: int | None = None

    @property
    def space(self) -> SearchSpace:
        return space_from_dict(self.spec["space"])


def trial_record(trial: Trial, reports: Sequence[tuple[int, float]] = ()) -> TrialRecord:
    return TrialRecord(
        number=trial.number,
        state=trial.state,
        params=dict(trial.params),
        value=trial.value,
        metrics=dict(trial.metrics) if trial.metrics is not None else None,
        reports=tuple(reports),
        failure_class=trial.failure_class,
        failure_message=trial.failure_message,
        attempt=trial.attempt,
        worker_id=trial.worker_id,
        device=trial.device,
        created_at=trial.created_at,
        started_at=trial.started_at,
        finished_at=trial.finished_at,
        imported=trial.imported,
        exactly_once=trial.dedup_key is not None,
        id=trial.id,
    )


def read_study(session: Session, study_id: int) -> StudyRecord:
    """The study with every trial (by number) and every report (by step)."""
    study = repo.get_study(session, study_id)
    reports: dict[int, list[tuple[int, float]]] = {}
    rows = session.execute(
        select(Report.trial_id, Report.step, Report.value)
        .where(Report.study_id == study_id)
        .order_by(Report.trial_id, Report.step)
    )
    for trial_id, step, value in rows:
        reports.setdefault(trial_id, []).append((step, value))
    trials = repo.list_trials(session, study_id, limit=None)
    return StudyRecord(
        name=study.name,
        direction=study.direction,
        sampler=study.sampler,
        pruner=study.pruner,
        spec=dict(study.spec),
        n_trials=study.n_trials,
        max_parallel=study.max_parallel,
        max_attempts=study.max_attempts,
        state=study.state,
        seed=study.seed,
        paused_reason=study.paused_reason,
        created_at=study.created_at,
        trials=tuple(trial_record(t, reports.get(t.id, ())) for t in trials),
        id=study.id,
    )


def store_study(session: Session, record: StudyRecord) -> Study:
    """Write `record` as a new study with all its trials, numbers kept. A trial that was
    running is stored queued: its lease belonged to the other database's workers."""
    study = repo.create_study(
        session,
        name=record.name,
        direction=record.direction,
        sampler=record.sampler,
        pruner=record.pruner,
        spec=dict(record.spec),
        n_trials=record.n_trials,
        max_parallel=record.max_parallel,
        max_attempts=record.max_attempts,
        seed=record.seed,
    )
    study.state = record.state
    study.paused_reason = record.paused_reason
    if record.created_at is not None:
        study.created_at = record.created_at
    study.imported_trials = sum(1 for t in record.trials if t.imported)
    _insert_trials(session, study.id, record.trials, imported=None)
    return study


def append_imported(
    session: Session, study: Study, trials: Iterable[TrialRecord], *, space: SearchSpace
) -> int:
    """Add finished trials to `study` (locked by the caller) as imported ones, numbered after
    its last trial; each one's params must be a configuration of `space` (refused, with the
    parameter named, otherwise). Returns how many were added."""
    first = repo.next_trial_number(session, study.id)
    fitted: list[TrialRecord] = []
    for i, trial in enumerate(trials):
        if trial.state not in FINISHED_STATES:
            raise ValidationError(
                f"trial {trial.number} is {trial.state}: only finished trials (completed, "
                "pruned, failed) can be imported"
            )
        try:
            params = space.validate(trial.params)
        except ValidationError as e:
            raise ValidationError(
                f"trial {trial.number} does not fit study {study.id}'s space: {e}"
            ) from e
        fitted.append(_renumbered(trial, first + i, params))
    _insert_trials(session, study.id, fitted, imported=True)
    study.imported_trials = (study.imported_trials or 0) + len(fitted)
    return len(fitted)


def _renumbered(trial: TrialRecord, number: int, params: Mapping[str, Any]) -> TrialRecord:
    changes = {"number": number, "params": dict(params), "id": None, "exactly_once": False}
    return TrialRecord(**{**vars(trial), **changes})


def _insert_trials(
    session: Session, study_id: int, trials: Sequence[TrialRecord], *, imported: bool | None
) -> None:
    """Insert `trials` and their reports; `imported` overrides each record's flag."""
    now = utcnow()
    rows: list[tuple[Trial, TrialRecord]] = []
    for record in trials:
        state = TrialState.QUEUED if record.state is TrialState.RUNNING else record.state
        last = record.reports[-1] if record.reports else None
        digest = repo.params_hash(record.params)
        trial = Trial(
            study_id=study_id,
            number=record.number,
            params=dict(record.params),
            params_hash=digest,
            dedup_key=digest if record.exactly_once else None,
            state=state,
            value=record.value,
            metrics=dict(record.metrics) if record.metrics is not None else None,
            attempt=record.attempt,
            worker_id=record.worker_id,
            device=record.device,
            created_at=record.created_at or now,
            started_at=record.started_at,
            finished_at=record.finished_at or (now if state in FINISHED_STATES else None),
            failure_class=record.failure_class,
            failure_message=record.failure_message,
            last_step=last[0] if last else None,
            last_report_value=last[1] if last else None,
            imported=record.imported if imported is None else imported,
        )
        session.add(trial)
        rows.append((trial, record))
    session.flush()  # ids for the reports
    session.add_all(
        Report(trial_id=trial.id, study_id=study_id, step=step, value=value, created_at=now)
        for trial, record in rows
        for step, value in record.reports
    )
    session.flush()
