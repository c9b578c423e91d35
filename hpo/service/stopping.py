"""When a study stops on its own: its trial count (`budget.n_trials`), its summed training
time (`budget.max_seconds`), one trial's time (`budget.max_trial_seconds`) or a result good
enough (`budget.target`).

- Time budget: the summed durations of finished trials plus the running ones
  (`repositories.durations`). Once spent, claims start no trial (queued ones included), and the
  study completes when its last running trial ends; a PATCH that raises it reopens the study.
- Per-trial limit: a trial running longer fails as `timeout` (never retried), on its next
  heartbeat, report or complete (each answers 409, so the worker stops training), or at the
  next reap when it sends nothing.
- Target: a completed trial whose value reaches it (>= when maximizing, <= when minimizing)
  completes the study at once; trials still running may still report their results.

`stop_reason` on the study says which of these stopped it (null for n_trials).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from hpo.states import Direction, StudyState, TrialState
from hpo.storage import Study
from hpo.storage import repositories as repo
from hpo.storage.repositories import durations
from hpo.wire import BudgetUse

# The budgets a PATCH may set or clear besides n_trials (columns of studies, and keys of
# spec["budget"]).
BUDGET_FIELDS = ("max_seconds", "max_trial_seconds", "target")


class TimedOut(Exception):
    """Raised inside a transaction to roll it back: the trial ran past its study's
    max_trial_seconds and must be failed as `timeout` (in a transaction of its own)."""

    def __init__(self, trial_id: int, limit: float) -> None:
        super().__init__(trial_id, limit)
        self.trial_id = trial_id
        self.limit = limit

    def message(self) -> str:
        return (
            f"trial {self.trial_id} ran longer than the study's max_trial_seconds="
            f"{self.limit:g} and failed as timeout: stop training it"
        )


def has_stop_rules(study: Study) -> bool:
    """Whether anything beyond the trial count can stop this study (most studies: no)."""
    return (
        study.max_seconds is not None
        or study.max_trial_seconds is not None
        or study.target is not None
    )


def over_trial_limit(study: Study, started_at: datetime | None, now: datetime) -> bool:
    limit = study.max_trial_seconds
    return (
        limit is not None and started_at is not None and (now - started_at).total_seconds() > limit
    )


def check_trial_time(
    study: Study, trial_id: int, started_at: datetime | None, now: datetime
) -> None:
    """Raise `TimedOut` when the running trial is past the study's per-trial limit."""
    if over_trial_limit(study, started_at, now):
        assert study.max_trial_seconds is not None
        raise TimedOut(trial_id, study.max_trial_seconds)


def time_spent(session: Session, study: Study, now: datetime) -> bool:
    """Whether the study's time budget is used up (False without one)."""
    if study.max_seconds is None:
        return False
    return durations.training_seconds(session, study.id, now) >= study.max_seconds


def reaches_target(study: Study, value: float | None) -> bool:
    if study.target is None or value is None:
        return False
    if study.direction is Direction.MINIMIZE:
        return value <= study.target
    return value >= study.target


def complete_on_target(study: Study, number: int, value: float) -> bool:
    """Complete a running study whose completed trial `number` reached its target; True if
    it did (call it in the transaction that completed the trial)."""
    if study.state is not StudyState.RUNNING or not reaches_target(study, value):
        return False
    study.state = StudyState.COMPLETED
    study.stop_reason = f"target {study.target:g} reached by trial #{number} ({value:g})"
    return True


def complete_if_time_spent(session: Session, study: Study, now: datetime, running: int) -> bool:
    """Complete a running study whose time budget is spent once nothing runs; True if it did."""
    if study.state is not StudyState.RUNNING or running > 0 or not time_spent(session, study, now):
        return False
    study.state = StudyState.COMPLETED
    study.stop_reason = f"time budget of {study.max_seconds:g} s of training used"
    return True


def target_already_reached(session: Session, study: Study) -> bool:
    """After a PATCH of the target: complete the study if its best trial reaches it."""
    best = repo.best_trial(session, study.id, study.direction)
    if best is None or best.value is None or best.state is not TrialState.COMPLETED:
        return False
    return complete_on_target(study, best.number, best.value)


def budget_use(
    session: Session, study: Study, counts: Mapping[TrialState, int], now: datetime
) -> BudgetUse:
    """What the study's budgets have used and have left (the page and `hpo study show`)."""
    used = sum(counts.get(state, 0) for state in TrialState)
    seconds = durations.training_seconds(session, study.id, now)
    return BudgetUse(
        n_trials=study.n_trials,
        trials_used=used,
        trials_left=max(0, study.n_trials - used),
        max_seconds=study.max_seconds,
        seconds_used=round(seconds, 3),
        seconds_left=(
            None if study.max_seconds is None else round(max(0.0, study.max_seconds - seconds), 3)
        ),
        max_trial_seconds=study.max_trial_seconds,
        target=study.target,
        stop_reason=study.stop_reason,
    )
