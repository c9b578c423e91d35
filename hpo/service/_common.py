"""Helpers shared by the study and dispatch halves of the service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hpo.errors import ConflictError
from hpo.samplers import Observation, ObservationState
from hpo.service.stopping import complete_if_time_spent
from hpo.space import SearchSpace, space_from_dict
from hpo.storage import FailureClass, Study, StudyState, Trial, TrialState, utcnow
from hpo.storage import repositories as repo
from hpo.storage.repositories.claim_path import TrialRow

FINISHED = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)
ACTIVE = (TrialState.QUEUED, TrialState.RUNNING)


def training_config(spec: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The full training config of a trial: the task, the fixed hyperparameters merged with
    the searched ones (searched win; the spec forbids overlap anyway), and the study's seed.
    This is what a worker trains and what `hpo train --final` retrains."""
    return {
        "task": dict(spec["task"]),
        "params": {**dict(spec.get("fixed") or {}), **dict(params)},
        "seed": int(spec.get("seed") or 0),
    }


def study_space(study: Study) -> SearchSpace:
    return space_from_dict(study.spec["space"])


def target_trials(study: Study) -> int:
    """How many finished trials complete the study: its budget, or the grid's size when the
    grid is smaller (an exhausted grid is a finished study), plus the trials it imported
    (history for its samplers, outside the budget)."""
    imported = study.imported_trials or 0
    if study.sampler == "grid":
        return min(study.n_trials, study_space(study).grid_size()) + imported
    return study.n_trials + imported


def budget_used(study: Study, counts: Mapping[TrialState, int]) -> int:
    """How many of the study's trial budget its trials use: every trial but the imported."""
    return sum(counts[s] for s in (*FINISHED, *ACTIVE)) - (study.imported_trials or 0)


def to_observation(trial: Trial | TrialRow) -> Observation:
    """A finished trial as a sampler sees it: failed and diverged trials carry no value.
    `trial` may be a Core row with the same column names (the claim path reads those)."""
    if trial.state is TrialState.COMPLETED and trial.value is not None:
        values = getattr(trial, "objective_values", None)
        violations = getattr(trial, "violations", None)
        return Observation(
            trial.params,
            trial.value,
            ObservationState.COMPLETED,
            values=tuple(values) if values is not None else None,
            violations=tuple(violations) if violations else (),
        )
    if trial.state is TrialState.PRUNED:
        value = trial.value if trial.value is not None else trial.last_report_value
        return Observation(trial.params, value, ObservationState.PRUNED)
    if trial.failure_class is FailureClass.DIVERGED:
        return Observation(trial.params, None, ObservationState.DIVERGED)
    return Observation(trial.params, None, ObservationState.FAILED)


def finish_study_if_done(session: Session, study: Study, now: datetime | None = None) -> None:
    """Mark a running study completed once its target of finished trials is reached and
    nothing is left running or queued, or once its time budget is spent and nothing is left
    running (`hpo.service.stopping`; `now` is the dispatcher's clock)."""
    if study.state is not StudyState.RUNNING:
        return
    counts = repo.studies.count_trials_by_state(session, study.id)
    finished = sum(counts[s] for s in FINISHED)
    active = sum(counts[s] for s in ACTIVE)
    if active == 0 and finished >= target_trials(study):
        study.state = StudyState.COMPLETED
        return
    running = counts[TrialState.RUNNING]
    complete_if_time_spent(session, study, now or utcnow(), running)


def require_state(trial: Trial, allowed: Sequence[TrialState], action: str) -> None:
    if trial.state not in allowed:
        raise ConflictError(
            f"cannot {action} trial {trial.id}: it is {trial.state}"
            + (
                " (its lease expired and it was requeued)"
                if trial.state is TrialState.QUEUED
                else ""
            )
        )


def pause_study(study: Study, reason: str) -> None:
    """Pause one locked, running study and say why (the service pauses a study that cannot
    make progress: a sampler failing at claim time, a run of config errors)."""
    study.state = StudyState.PAUSED
    study.paused_reason = reason[:1000]
