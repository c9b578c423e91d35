"""What the tracking sink logs of one finished trial, read in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hpo.service._common import training_config
from hpo.storage import Comparison, Report, Study, Trial


@dataclass(frozen=True)
class TrialForTracking:
    trial_id: int
    number: int
    state: str
    value: float | None
    metrics: dict[str, Any]
    params: dict[str, Any]  # the training config's: fixed and searched, merged
    failure_class: str | None
    failure_message: str | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str | None
    tags: tuple[str, ...]
    reports: tuple[tuple[int, float], ...]  # (step, value), by step
    study_id: int
    study_name: str
    sampler: str
    seed: int | None
    metric: str  # the task's metric: the name of the per-step values
    direction: str
    comparison_id: int | None
    comparison_name: str | None


def read_trial(session: Session, trial_id: int) -> TrialForTracking | None:
    """The trial with its study, reports and comparison; None when it is gone."""
    trial = session.get(Trial, trial_id)
    if trial is None:
        return None
    study = session.get(Study, trial.study_id)
    assert study is not None  # a trial's study is its foreign key (cascade on delete)
    comparison = session.get(Comparison, study.comparison_id) if study.comparison_id else None
    reports = session.execute(
        select(Report.step, Report.value).where(Report.trial_id == trial_id).order_by(Report.step)
    ).all()
    return TrialForTracking(
        trial_id=trial.id,
        number=trial.number,
        state=str(trial.state),
        value=trial.value,
        metrics=dict(trial.metrics or {}),
        params=training_config(study.spec, trial.params)["params"],
        failure_class=str(trial.failure_class) if trial.failure_class else None,
        failure_message=trial.failure_message,
        started_at=trial.started_at,
        finished_at=trial.finished_at,
        note=trial.note,
        tags=tuple(trial.tags or ()),
        reports=tuple((int(step), float(value)) for step, value in reports),
        study_id=study.id,
        study_name=study.name,
        sampler=study.sampler,
        seed=study.seed,
        metric=str(study.spec.get("task", {}).get("metric", "value")),
        direction=str(study.direction),
        comparison_id=study.comparison_id,
        comparison_name=comparison.name if comparison is not None else None,
    )
