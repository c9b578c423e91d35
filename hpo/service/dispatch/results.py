"""Results: what a running trial sends back (heartbeat, report, complete, fail), and the
reaper's requeue of trials whose lease expired.

A result walks: `Results.complete` -> one repository statement that completes the running
trial and reads the study's progress (`claim_path.complete_running`) -> the lease check on what it
returned (rolled back when the token is wrong) -> `Suggestions.result_in` after the commit.
A retried complete that already landed (same token, same value) is a no-op.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hpo.errors import ConflictError, ValidationError
from hpo.objectives import Evaluated, StudyObjectives
from hpo.pruners import make_pruner
from hpo.service._common import finish_study_if_done, require_state, target_trials
from hpo.service.dispatch.leases import RETRIED, check_token, failure_class, token_matches
from hpo.service.dispatch.part import DispatchPart
from hpo.service.failures import pause_after_config_errors
from hpo.service.stopping import (
    TimedOut,
    check_trial_time,
    complete_on_target,
    over_trial_limit,
)
from hpo.service.views import TrialView
from hpo.storage import FailureClass, Study, StudyState, Trial, TrialState
from hpo.storage import repositories as repo
from hpo.storage.repositories import claim_path, durations
from hpo.wire import MAX_REPORTS_PER_REQUEST


class Results(DispatchPart):
    """Takes results back from workers; renews, checks and ends leases."""

    def heartbeat(self, trial_id: int, token: str) -> datetime:
        """Renew the lease; returns the new expiry."""
        try:
            with self.db.transaction() as session:
                trial, _ = self._leased(session, trial_id, token, "heartbeat")
                trial.lease_expires_at = self.clock() + self.lease
                return trial.lease_expires_at
        except TimedOut as timed_out:
            raise self._time_out(timed_out) from None

    def report(self, trial_id: int, token: str, step: int, value: float) -> bool:
        """Record an intermediate value; renews the lease; returns should_prune. A trial the
        pruner stops is marked pruned at once (its last value counts): the worker just stops."""
        return self.reports(trial_id, token, [(step, value)])

    def reports(self, trial_id: int, token: str, reports: Sequence[tuple[int, float]]) -> bool:
        """Record several intermediate values (step, value) in one transaction, as that many
        `report`s in order would: with a pruner each is decided in turn, and the first that
        prunes ends the trial (the rest are dropped: a pruned trial takes no reports); without
        one, one statement stores them all. Renews the lease; returns should_prune."""
        reports = _checked_reports(reports)
        try:
            with self.db.transaction() as session:
                trial, study = self._leased(session, trial_id, token, "report on")
                pruned = self._reports_in(session, trial, study, reports)
        except TimedOut as timed_out:
            raise self._time_out(timed_out) from None
        if pruned:
            self.suggestions.result_in(study.id, study.state, study.sampler)
        return pruned

    def _reports_in(
        self, session: Session, trial: Trial, study: Study, reports: Sequence[tuple[int, float]]
    ) -> bool:
        """`reports` inside its transaction: record, renew, ask the pruner."""
        now = self.clock()
        trial.lease_expires_at = now + self.lease
        spec = study.spec.get("pruner") or {}
        pruner = make_pruner(spec.get("name", "none"), spec.get("options"), str(study.direction))
        if not pruner.reads_reports:
            # No pruner: skip reading every report of the study, which grew each report's
            # work and transient memory with the study's history, on every report; and a
            # batch is one statement.
            if len(reports) == 1:
                repo.record_report(session, trial, *reports[0])
            else:
                _apply_last(trial, repo.record_reports(session, trial.id, trial.study_id, reports))
            return False
        for step, value in reports:
            repo.record_report(session, trial, step, value)
            session.flush()
            decided = repo.study_reports(session, study.id, max_step=step)
            if pruner.should_prune(decided, trial.id, step):
                break
        else:
            return False
        trial.state = TrialState.PRUNED
        trial.value = value
        trial.finished_at = now
        trial.lease_expires_at = None
        self.metrics.inc("hpo_trials_pruned_total")
        self.finished(session, trial.id)
        finish_if_done(session, study, now)
        return True

    def complete(
        self,
        trial_id: int,
        token: str,
        value: float,
        metrics: Mapping[str, Any] | None,
        reports: Sequence[tuple[int, float]] = (),
    ) -> tuple[TrialView, bool]:
        """Record the final value; returns the trial and whether this was a retry of a
        complete that already landed (same token and value: the trial, unchanged).
        `reports`: the trial's last intermediate values (step, value), stored in the same
        transaction as `reports` would store them, but never given to the pruner (the trial
        is done); a retry's are not stored twice (the first attempt's are there)."""
        if not math.isfinite(value):
            raise ValidationError(
                f"value {value!r} is not finite: fail the trial with failure_class "
                "'diverged' instead"
            )
        reports = _checked_reports(reports) if reports else ()
        try:
            with self.db.transaction() as session:
                row = claim_path.complete_running(
                    session, trial_id, value, metrics or {}, self.clock()
                )
                if row is None or not token_matches(row.lease_token, token):
                    raise _NotThisLease  # rolls the update back
                last = repo.record_reports(session, trial_id, int(row.study_id), reports)
                if last is not None:
                    repo.apply_last_report(session, trial_id, *last)
                evaluated = _evaluate(session, row, value, metrics or {})
                state, sampler = StudyState(row.study_state), str(row.sampler)
                created = -1 if row.top_number is None else int(row.top_number) + 1
                now = row.finished_at
                if row.stop_rules:  # a time or quality budget: see hpo.service.stopping
                    study = repo.get_study(session, row.study_id)
                    check_trial_time(study, trial_id, row.started_at, now)  # rolls back
                    complete_on_target(study, int(row.number), value)
                    finish_if_done(session, study, now)
                    state = study.state
                elif state is StudyState.RUNNING and (sampler == "grid" or created >= row.n_trials):
                    # Perhaps the study's last trial (a grid's target may be its size): count.
                    study = repo.get_study(session, row.study_id)
                    finish_if_done(session, study, now)
                    state = study.state
                self.finished(session, trial_id)
                view = TrialView.of(row)
                if last is not None and (view.last_step is None or last[0] >= view.last_step):
                    view = replace(view, last_step=last[0], last_report_value=last[1])
                if evaluated is not None:
                    view = replace(
                        view,
                        value=evaluated.values[0],
                        values=list(evaluated.values),
                        feasible=evaluated.feasible if evaluated.violations else None,
                    )
        except TimedOut as timed_out:
            raise self._time_out(timed_out) from None
        except _NotThisLease:
            # 404, a wrong or stale token, a trial not running, or a retry of a complete that
            # already landed (returns the trial unchanged).
            with self.db.transaction() as session:
                return self._complete_other(session, trial_id, token, value), True
        self.metrics.inc("hpo_trials_completed_total")
        self.suggestions.result_in(row.study_id, state, sampler)
        return view, False

    def _complete_other(
        self, session: Session, trial_id: int, token: str, value: float
    ) -> TrialView:
        """`complete` when the fast path's check failed: raises the right error, or returns
        the trial unchanged for a retry of a complete that already landed."""
        trial = repo.lock_trial(session, trial_id)
        check_token(trial, token, "complete")
        if trial.state is TrialState.COMPLETED and value in (
            trial.value,
            (trial.metrics or {}).get(StudyObjectives.of_spec(trial.study.spec).task_metric),
        ):
            return TrialView.of(trial)  # a retry of a complete that already landed
        require_state(trial, (TrialState.RUNNING,), "complete")
        raise AssertionError(f"trial {trial_id}: running with this token, yet not completed")

    def fail(
        self, trial_id: int, token: str, failure: FailureClass | str, message: str = ""
    ) -> TrialView:
        """A classified failure. `lost` (the worker is stopping) requeues the trial at once
        with the same params, until max_attempts; every other class is final. A retry of a
        fail that already landed is a no-op."""
        failure = failure_class(failure)
        with self.db.transaction() as session:
            trial = repo.lock_trial(session, trial_id)
            check_token(trial, token, "fail")
            if trial.state is TrialState.FAILED and trial.failure_class is failure:
                return TrialView.of(trial)
            require_state(trial, (TrialState.RUNNING,), "fail")
            study = repo.get_study(session, trial.study_id)
            self._end_attempt(session, trial, study, failure, message[:4000])
            finish_if_done(session, study, self.clock())
            if trial.state is TrialState.FAILED and failure is FailureClass.CONFIG:
                pause_after_config_errors(session, study)  # a study that cannot succeed stops
            view = TrialView.of(trial)
        if trial.state is TrialState.FAILED:
            self.suggestions.result_in(study.id, study.state, study.sampler)
        return view

    def reap(self) -> int:
        """Requeue (or, past max_attempts, fail) trials whose lease expired. Returns how many."""
        over: list[int] = []
        with self.db.transaction() as session:
            now = self.clock()
            expired = repo.expired_leases(session, now)
            for trial in expired:
                study = repo.get_study(session, trial.study_id)
                self._end_attempt(session, trial, study, FailureClass.LOST, "lease expired")
                self.metrics.inc("hpo_lease_expiries_total")
                finish_if_done(session, study, now)
                if study.state is StudyState.COMPLETED:
                    over.append(study.id)
            # Trials past their study's max_trial_seconds that send nothing (no heartbeat,
            # report or complete would have failed them yet).
            timed_out = 0
            for trial, limit in durations.running_with_time_limit(session):
                study = repo.get_study(session, trial.study_id)
                if not over_trial_limit(study, trial.started_at, now):
                    continue
                message = f"ran longer than max_trial_seconds={limit:g}"
                self._end_attempt(session, trial, study, FailureClass.TIMEOUT, message)
                timed_out += 1
                finish_if_done(session, study, now)
                if study.state is StudyState.COMPLETED:
                    over.append(study.id)
        for study_id in over:
            self.suggestions.forget(study_id)
        return len(expired) + timed_out

    def _time_out(self, timed_out: TimedOut) -> ConflictError:
        """Fail a trial past its study's max_trial_seconds as `timeout` (its own transaction:
        the caller's was rolled back); returns the 409 to raise to the worker."""
        with self.db.transaction() as session:
            trial = repo.lock_trial(session, timed_out.trial_id)
            if trial.state is TrialState.RUNNING:
                study = repo.get_study(session, trial.study_id)
                message = f"ran longer than max_trial_seconds={timed_out.limit:g}"
                self._end_attempt(session, trial, study, FailureClass.TIMEOUT, message)
                finish_if_done(session, study, self.clock())
        if trial.state is TrialState.FAILED:
            self.suggestions.result_in(study.id, study.state, study.sampler)
        return ConflictError(timed_out.message())

    def _end_attempt(
        self, session: Session, trial: Trial, study: Study, failure: FailureClass, message: str
    ) -> None:
        now = self.clock()
        trial.lease_expires_at = None
        trial.failure_class = failure
        trial.failure_message = message or None
        if failure in RETRIED and trial.attempt < study.max_attempts:
            trial.state = TrialState.QUEUED
            trial.attempt += 1
            trial.lease_token = None
            trial.worker_id = None
            self.metrics.inc("hpo_trials_requeued_total")
            return
        if failure in RETRIED:
            trial.failure_message = (
                f"{message or 'lost'} (gave up after {trial.attempt} attempts, max_attempts="
                f"{study.max_attempts})"
            )
        trial.state = TrialState.FAILED
        trial.finished_at = now
        self.metrics.inc("hpo_trials_failed_total")
        self.finished(session, trial.id)

    def _leased(
        self, session: Session, trial_id: int, token: str, action: str
    ) -> tuple[Trial, Study]:
        """The running trial this token holds, and its study; raises `TimedOut` (to roll
        back) when it is past the study's max_trial_seconds."""
        trial = repo.lock_trial(session, trial_id)
        check_token(trial, token, action)
        require_state(trial, (TrialState.RUNNING,), action)
        study = repo.get_study(session, trial.study_id)
        if study.state is StudyState.CANCELLED:
            raise ConflictError(f"study {trial.study_id} was cancelled: stop this trial")
        check_trial_time(study, trial.id, trial.started_at, self.clock())
        return trial, study


def _checked_reports(reports: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
    """Reports within the per-request bound, each step an integer >= 0 and each value finite
    (the API's schema says the same with a 422; this is for every other caller)."""
    if len(reports) > MAX_REPORTS_PER_REQUEST:
        raise ValidationError(
            f"{len(reports)} reports in one request; at most {MAX_REPORTS_PER_REQUEST}: send "
            "them in several"
        )
    for step, value in reports:
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValidationError(f"report step must be an integer >= 0, got {step!r}")
        if not math.isfinite(value):
            raise ValidationError(
                f"report value at step {step} is {value!r}: fail the trial with failure_class "
                "'diverged' instead"
            )
    return reports


def _apply_last(trial: Trial, last: tuple[int, float] | None) -> None:
    """A batch's highest report onto the trial, as `record_report` moves it: only forward."""
    if last is not None and (trial.last_step is None or last[0] >= trial.last_step):
        trial.last_step, trial.last_report_value = last


def _evaluate(
    session: Session, row: Any, value: float, metrics: Mapping[str, Any]
) -> Evaluated | None:
    """A completed result through its study's objectives and constraints, stored on the
    trial; None for a plain study (one objective, the task's metric, no constraints)."""
    objectives = StudyObjectives.of_spec(row.study_spec or {})
    if objectives.plain:
        return None
    evaluated = objectives.evaluate(value, metrics)  # ValidationError: rolls back
    claim_path.record_objectives(
        session,
        int(row.id),
        evaluated.values,
        evaluated.violations,
        evaluated.feasible if evaluated.violations else None,
    )
    return evaluated


class _NotThisLease(Exception):
    """Raised inside `complete`'s transaction to roll its update back: the trial is not
    running under the given token (handled by `_complete_other`)."""


def finish_if_done(session: Session, study: Study, now: datetime) -> None:
    """`finish_study_if_done`, skipping its count of every trial by state while the study
    has fewer trials than its target and no time budget (then it cannot be done): the
    highest trial number bounds the trial count, and is one index lookup."""
    if study.state is not StudyState.RUNNING:
        return
    if study.max_seconds is None and repo.next_trial_number(session, study.id) < target_trials(
        study
    ):
        return
    finish_study_if_done(session, study, now)
