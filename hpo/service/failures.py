"""Failed trials, said plainly: a study whose trials keep failing as config errors pauses itself
(with the reason), the study view carries its most common failures, and `best` on a study with
no completed trial says why there is none.

A config error means the trainers refused the trial's config: when that happens N times in a
row (`budget.max_config_errors`, default 3), every later trial would most likely fail the same
way, so the study stops rather than spend its budget. Lost trials (a worker went away) and
diverged ones (the config trained, badly) say nothing about the config and do not count; a
completed or pruned trial, or another failure, ends the run.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hpo.errors import one_line
from hpo.service._common import pause_study
from hpo.storage import FailureClass, Study, StudyState, TrialState
from hpo.storage.repositories import failures as failed_trials
from hpo.wire import FailureCount

DEFAULT_MAX_CONFIG_ERRORS = 3
# Failures that say nothing about whether the config can be trained.
_NOT_ABOUT_THE_CONFIG = (FailureClass.LOST, FailureClass.DIVERGED)
_MESSAGE_IN_REASON = 600  # paused_reason holds 1000 characters


def max_config_errors(study: Study) -> int:
    budget = (study.spec or {}).get("budget") or {}
    return int(budget.get("max_config_errors") or DEFAULT_MAX_CONFIG_ERRORS)


def pause_after_config_errors(session: Session, study: Study) -> bool:
    """Pause a running `study` whose last `max_config_errors` finished trials (lost and
    diverged ones skipped) all failed as config errors; True if it paused it. Call it after a
    config failure has been recorded, in the same transaction."""
    if study.state is not StudyState.RUNNING:
        return False
    limit = max_config_errors(study)
    latest = failed_trials.latest_results_except(session, study.id, _NOT_ABOUT_THE_CONFIG, limit)
    if len(latest) < limit or any(cls is not FailureClass.CONFIG for cls, _ in latest):
        return False
    message = one_line(latest[0][1] or "a config error")[:_MESSAGE_IN_REASON]
    pause_study(study, f"paused: {limit} trials in a row failed with: {message}")
    return True


def common_failures(session: Session, study_id: int, limit: int = 3) -> list[FailureCount]:
    """The most common (failure class, message) pairs of a study's failed trials."""
    rows = failed_trials.most_common_failures(session, study_id, limit)
    return [
        FailureCount(str(cls or FailureClass.INTERNAL), one_line(message or ""), n)
        for cls, message, n in rows
    ]


def no_completed_trial(session: Session, study: Study, counts: dict[TrialState, int]) -> str:
    """Why `best` has nothing: still waiting, or (a finished or paused study) what happened
    to its trials, e.g. "study 3 is completed with no completed trial: 3 failed (config:
    unknown dataset 'mnist2d'; valid: ...)"."""
    if study.state is StudyState.RUNNING:
        return f"study {study.id} has no completed trial yet: wait for one to finish"
    parts = [f"{counts.get(state, 0)} {state}" for state in TrialState if counts.get(state, 0)]
    failures = common_failures(session, study.id, limit=1)
    text = f"study {study.id} is {study.state} with no completed trial: "
    text += ", ".join(parts) if parts else "no trial ran"
    if study.state is StudyState.PAUSED and study.paused_reason:
        text += f"; {study.paused_reason}"
    elif failures:
        text += f" ({failures[0].describe()})"
    return text
