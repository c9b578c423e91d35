"""Studies: create, read, change, delete; trials lists, the leaderboard, the best config and
enqueued configurations. Every method is one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

from sqlalchemy.orm import Session

from hpo.command_spec import task_kind
from hpo.dataset_location import check_dataset_location
from hpo.errors import ConflictError, ValidationError
from hpo.objectives import StudyObjectives
from hpo.pick import Objective, check_pick, parse_pick
from hpo.pruners import make_pruner
from hpo.service._common import (
    ACTIVE,
    budget_used,
    finish_study_if_done,
    pause_study,
    study_space,
    training_config,
)
from hpo.service.client_tokens import new_client_token
from hpo.service.creating import CreatesStudies
from hpo.service.failures import common_failures, no_completed_trial
from hpo.service.fronts import (
    HypervolumeHistory,
    hypervolume_over_trials,
    objective_values,
    pareto_trials,
    pick_trial,
)
from hpo.service.stopping import BUDGET_FIELDS, budget_use, target_already_reached
from hpo.service.views import BestConfig, CreatedStudy, StudyView, TrialView
from hpo.service.warm_start import warm_start
from hpo.service.workers import WorkerFleet
from hpo.spec import StudySpec, TaskSpec
from hpo.storage import (
    Database,
    FailureClass,
    Study,
    StudyState,
    TrialState,
    lock_study,
    utcnow,
)
from hpo.storage import repositories as repo
from hpo.storage.repositories import counts
from hpo.trainable import check_config


def _pick_objectives(objectives: StudyObjectives) -> list[Objective]:
    return [Objective(m, d) for m, d in zip(objectives.metrics, objectives.directions, strict=True)]


StudyAction = Literal["pause", "resume", "cancel"]


def insert_study(
    session: Session,
    spec: StudySpec,
    *,
    comparison_id: int | None = None,
    client_token_hash: str | None = None,
) -> Study:
    """Store a validated spec as a new running study, inside the caller's transaction (a
    comparison creates all its studies in one)."""
    # Pruner options are checked here, not in the spec schema, so that hpo.spec does not
    # depend on the pruners' option sets.
    make_pruner(spec.pruner.name, spec.pruner.options, spec.direction)
    return repo.create_study(
        session,
        name=spec.name,
        direction=spec.direction,
        sampler=spec.sampler.name,
        pruner=spec.pruner.name,
        spec=spec.to_dict(),
        n_trials=spec.budget.n_trials,
        max_parallel=spec.budget.max_parallel,
        max_attempts=spec.budget.max_attempts,
        seed=spec.seed,
        task_kind=spec.task.kind,
        comparison_id=comparison_id,
        client_token_hash=client_token_hash,
        max_seconds=spec.budget.max_seconds,
        max_trial_seconds=spec.budget.max_trial_seconds,
        target=spec.budget.target,
        pool=spec.resources.pool,
    )


class StudyService(CreatesStudies):
    """Everything a user does with studies. The worker protocol lives in `Dispatcher`.
    `fleet`: the live workers, to say when a study's pool has none (`waiting_for`)."""

    def __init__(self, db: Database, *, fleet: WorkerFleet | None = None, **kwargs: Any) -> None:
        super().__init__(db, **kwargs)
        self.fleet = fleet

    def _over(self, study_id: int) -> None:
        if self.on_over is not None:
            self.on_over(study_id)

    def create(self, spec: StudySpec, *, comparison_id: int | None = None) -> CreatedStudy:
        """Store a validated spec as a new running study; with `spec.client_token`, make the
        study's client token (returned here, once; only its hash is stored)."""
        self.limits.check_trials(spec.budget.n_trials, "budget.n_trials")
        if isinstance(spec.task, TaskSpec):
            check_dataset_location(spec.task.dataset, self.dataset_roots)
        token, token_hash = new_client_token() if spec.client_token else (None, None)
        with self.db.transaction() as session:
            study = insert_study(
                session, spec, comparison_id=comparison_id, client_token_hash=token_hash
            )
            counts = dict.fromkeys(TrialState, 0)
            if spec.warm_start is not None:
                space = spec.search_space()
                counts[TrialState.COMPLETED] = warm_start(
                    session, study, space, spec.warm_start.from_studies
                )
            view = StudyView.of(study, counts, repo.best_trial(session, study.id, study.direction))
        return CreatedStudy(**vars(view), client_token=token)

    def get(self, study_id: int) -> StudyView:
        """One study with its most common failures and what its budget has used and left."""
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            counts = repo.count_trials_by_state(session, study_id)
            best = repo.best_trial(session, study_id, study.direction)
            view = StudyView.of(study, counts, best)
            failures = common_failures(session, study_id)
            budget = budget_use(session, study, counts, self.clock())
        waiting = None if self.fleet is None else self.fleet.waiting_for(view.state, view.pool)
        return replace(view, failures=failures, budget=budget, waiting_for=waiting)

    def list_studies(
        self,
        *,
        state: StudyState | None = None,
        comparison_id: int | None = None,
        standalone: bool = False,
        offset: int = 0,
        limit: int = 100,
    ) -> list[StudyView]:
        """Studies, newest first: all, or only in `state`, of one comparison
        (`comparison_id`), or of none (`standalone`: what the index page lists)."""
        if standalone and comparison_id is not None:
            raise ValidationError(
                "list studies of one comparison (comparison_id) or of none (standalone), not both"
            )
        with self.db.transaction(write=False) as session:
            studies = repo.list_studies(
                session,
                states=[state] if state else None,
                comparison_id=comparison_id,
                standalone=standalone,
                offset=offset,
                limit=limit,
            )
            counts = repo.count_trials_by_state_for(session, [s.id for s in studies])
            return [
                StudyView.of(s, counts[s.id], repo.best_trial(session, s.id, s.direction))
                for s in studies
            ]

    def update(
        self,
        study_id: int,
        *,
        action: StudyAction | None = None,
        n_trials: int | None = None,
        budget: Mapping[str, float | None] | None = None,
    ) -> StudyView:
        """Pause (no new claims; running trials finish), resume, cancel (running and queued
        trials are failed as cancelled; their late reports get 409), raise the trial budget,
        or set or clear (None) the time and quality budgets named in `budget`
        (max_seconds, max_trial_seconds, target). A completed study whose changed budget
        leaves room runs again."""
        if n_trials is not None:
            self.limits.check_trials(n_trials)
        budget = dict(budget or {})
        unknown = sorted(set(budget) - set(BUDGET_FIELDS))
        if unknown:
            raise ValidationError(
                f"unknown budget field {', '.join(unknown)}: use {', '.join(BUDGET_FIELDS)}"
            )
        with self.db.transaction() as session:
            study = lock_study(session, study_id)
            if n_trials is not None:
                counts = repo.count_trials_by_state(session, study_id)
                used = budget_used(study, counts)
                if n_trials < used:
                    raise ValidationError(
                        f"n_trials={n_trials} is below the {used} trials already created: "
                        "the budget can only be raised"
                    )
                study.n_trials = n_trials
                budget["n_trials"] = n_trials
            if budget:
                for name in BUDGET_FIELDS:
                    if name in budget:
                        setattr(study, name, budget[name])
                spec = dict(study.spec)
                spec["budget"] = {**spec["budget"], **budget}
                study.spec = spec
                if study.state is StudyState.COMPLETED:
                    study.state = StudyState.RUNNING  # checked again just below
                    study.stop_reason = None
            if action is not None:
                self.apply_action(session, study, action, self.outbox)
            if "target" in budget:
                target_already_reached(session, study)
            finish_study_if_done(session, study, self.clock())
            counts = repo.count_trials_by_state(session, study_id)
            view = StudyView.of(study, counts, repo.best_trial(session, study_id, study.direction))
            view = replace(view, budget=budget_use(session, study, counts, self.clock()))
        if study.state in (StudyState.COMPLETED, StudyState.CANCELLED):
            self._over(study_id)
        return view

    @staticmethod
    def apply_action(
        session: Session,
        study: Study,
        action: StudyAction,
        outbox: Callable[[Session, int], None] | None = None,
    ) -> None:
        """Change one locked study's state (comparisons apply it to each of their studies).
        `outbox`: told of each trial a cancel fails (the tracking sink's queue)."""
        state = study.state
        if action == "pause":
            if state is not StudyState.RUNNING:
                raise ConflictError(f"study {study.id} is {state}: only a running study pauses")
            pause_study(study, "paused by a user")
        elif action == "resume":
            if state is not StudyState.PAUSED:
                raise ConflictError(f"study {study.id} is {state}: only a paused study resumes")
            study.state = StudyState.RUNNING
            study.paused_reason = None
        elif action == "cancel":
            if state in (StudyState.COMPLETED, StudyState.CANCELLED):
                raise ConflictError(f"study {study.id} is already {state}")
            for trial in repo.list_trials(session, study.id, states=ACTIVE, limit=None):
                trial.state = TrialState.FAILED
                trial.failure_class = FailureClass.CANCELLED
                trial.failure_message = "the study was cancelled"
                trial.finished_at = utcnow()
                trial.lease_expires_at = None
                if outbox is not None:
                    outbox(session, trial.id)
            study.state = StudyState.CANCELLED
        else:
            raise ValidationError(f"unknown action {action!r}: use pause, resume or cancel")

    def trial_state_totals(self) -> dict[str, int]:
        """Trials in each state across every study (the /metrics gauge)."""
        with self.db.transaction(write=False) as session:
            return counts.trial_state_totals(session)

    def delete(self, study_id: int) -> None:
        with self.db.transaction() as session:
            repo.delete_study(session, study_id)
        self._over(study_id)
        self._deleted(study_id)

    def trials(
        self,
        study_id: int,
        *,
        state: TrialState | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[TrialView], int]:
        """A page of trials by number, and the total matching the filter."""
        with self.db.transaction(write=False) as session:
            repo.get_study(session, study_id)
            states = [state] if state else None
            rows = repo.list_trials(session, study_id, states=states, offset=offset, limit=limit)
            total = repo.count_trials(session, study_id, states=states)
            return [TrialView.of(t) for t in rows], total

    def leaderboard(self, study_id: int, k: int = 10) -> list[TrialView]:
        """The best k feasible trials, best first; a multi-objective study's is its Pareto
        front (sorted by the first objective), at most k of it."""
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            if StudyObjectives.of_spec(study.spec).multi:
                front = pareto_trials(study, repo.feasible_completed(session, study_id))
                return [TrialView.of(t) for t in front[:k]]
            return [
                TrialView.of(t) for t in repo.leaderboard(session, study_id, study.direction, k=k)
            ]

    def pareto(self, study_id: int) -> list[TrialView]:
        """The non-dominated feasible completed trials, sorted by the first objective (a
        single-objective study's front is its best trial)."""
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            front = pareto_trials(study, repo.feasible_completed(session, study_id))
            return [TrialView.of(t) for t in front]

    def hypervolume(self, study_id: int) -> HypervolumeHistory | None:
        """The hypervolume after each finished trial (None before any result)."""
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            finished = repo.list_trials(
                session, study_id, states=[TrialState.COMPLETED], limit=None
            )
            finished.sort(key=lambda t: (t.finished_at or t.created_at, t.id))
            return hypervolume_over_trials(study, finished)

    def best(self, study_id: int, pick: str | None = None) -> BestConfig:
        """The best feasible completed trial with the config to retrain it; 409 while there is
        none. `pick` (the `hpo.pick` grammar) chooses among several objectives; without it,
        the best on the first objective."""
        parsed = parse_pick(pick) if pick is not None else None
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            objectives = StudyObjectives.of_spec(study.spec)
            if parsed is not None:
                check_pick(parsed, _pick_objectives(objectives))
            trial = repo.best_trial(session, study_id, study.direction)
            if trial is None or trial.value is None:
                counts = repo.count_trials_by_state(session, study_id)
                raise ConflictError(no_completed_trial(session, study, counts))
            if parsed is not None:
                trial = pick_trial(study, repo.feasible_completed(session, study_id), parsed)
            return BestConfig(
                study_id=study_id,
                trial_id=trial.id,
                number=trial.number,
                value=float(trial.value or 0.0),  # feasible_completed trials all have one
                metric=str(study.spec["task"].get("metric", "val_accuracy")),
                direction=str(study.direction),
                params=dict(trial.params),
                config=training_config(study.spec, trial.params),
                values=objective_values(trial, objectives) if objectives.multi else None,
                pick=pick,
            )

    def enqueue(self, study_id: int, params: Mapping[str, Any]) -> tuple[TrialView, bool]:
        """Queue a configuration to evaluate, exactly once per study. Returns (trial,
        created): an already-known configuration returns its trial with created=False."""
        with self.db.transaction() as session:
            study = lock_study(session, study_id)
            if study.state in (StudyState.COMPLETED, StudyState.CANCELLED):
                raise ConflictError(
                    f"study {study_id} is {study.state}: raise its budget (PATCH n_trials) "
                    "before enqueueing more configurations"
                )
            checked = study_space(study).validate(params)
            if study.spec.get("check_config", True) and task_kind(study.spec["task"]) == "builtin":
                config = training_config(study.spec, checked)
                check_config(config["task"], config["params"], config["seed"])
            existing = repo.find_trial_by_dedup_key(session, study_id, repo.params_hash(checked))
            if existing is not None:
                return TrialView.of(existing), False
            counts = repo.count_trials_by_state(session, study_id)
            if budget_used(study, counts) >= study.n_trials:
                raise ConflictError(
                    f"study {study_id} has used its budget of {study.n_trials} trials: "
                    "raise it with PATCH n_trials first"
                )
            trial = repo.insert_trial(session, study_id, checked, exactly_once=True)
            return TrialView.of(trial), True
