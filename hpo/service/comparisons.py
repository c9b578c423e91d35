"""Comparisons: samplers x seeds on one task, space and budget, as one study per cell.

A comparison stores only its spec and the final-training results; its state, progress,
curves and ranking are derived from its studies each time they are read (see
`hpo.service.curves`), so they can never disagree with the studies. Every method is one
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from hpo.comparison_spec import ComparisonSpec
from hpo.dataset_location import check_dataset_location
from hpo.errors import ConflictError, ValidationError
from hpo.objectives import StudyObjectives
from hpo.pareto import hypervolume_history, to_losses
from hpo.service import curves, separability
from hpo.service._common import FINISHED, target_trials
from hpo.service.comparison_views import (
    ComparisonStudy,
    ComparisonSummary,
    ComparisonView,
    SamplerCurves,
    SamplerResult,
)
from hpo.service.creating import CreatesStudies
from hpo.service.fronts import reference_point
from hpo.service.studies import StudyAction, StudyService, insert_study
from hpo.storage import (
    Comparison,
    Direction,
    Study,
    StudyState,
    TrialState,
    lock_study,
    utcnow,
)
from hpo.storage import repositories as repo

# Which of a comparison's studies each action applies to.
_APPLIES_TO: dict[str, tuple[StudyState, ...]] = {
    "pause": (StudyState.RUNNING,),
    "resume": (StudyState.PAUSED,),
    "cancel": (StudyState.RUNNING, StudyState.PAUSED),
}


@dataclass(frozen=True)
class FinalResult:
    """The test metric of a sampler's winner retrained on train + validation (over one or
    more training seeds), as `hpo compare --final` records it."""

    test_metric: float
    test_metric_sd: float | None = None
    metric: str = "test_accuracy"
    seeds: tuple[int, ...] = ()
    study_id: int | None = None
    trial_id: int | None = None


class ComparisonService(CreatesStudies):
    """Comparisons: created with all their studies at once, changed and deleted together."""

    def create(self, spec: ComparisonSpec) -> ComparisonView:
        """Create the comparison and all its studies at once, or nothing when one of them is
        invalid (a grid over a continuous float, bad pruner options)."""
        self.limits.check_comparison(spec)
        check_dataset_location(spec.task.dataset, self.dataset_roots)
        cells = spec.cells()
        with self.db.transaction() as session:
            comparison = repo.create_comparison(session, name=spec.name, spec=spec.to_dict())
            for cell in cells:
                insert_study(session, cell.spec, comparison_id=comparison.id)
            return self._view(session, comparison)

    def list_comparisons(self, *, offset: int = 0, limit: int = 100) -> list[ComparisonSummary]:
        with self.db.transaction(write=False) as session:
            comparisons = repo.list_comparisons(session, offset=offset, limit=limit)
            studies = repo.comparison_studies(session, [c.id for c in comparisons])
            counts = repo.count_trials_by_state_for(session, [s.id for s in studies])
            summaries = []
            for comparison in comparisons:
                own = [s for s in studies if s.comparison_id == comparison.id]
                summaries.append(
                    ComparisonSummary(
                        id=comparison.id,
                        name=comparison.name,
                        state=comparison_state(own),
                        samplers=_sampler_names(comparison),
                        n_trials=_budget(comparison, own),
                        repeats=int(comparison.spec["repeats"]),
                        created_at=comparison.created_at,
                        n_finished=sum(_n_finished(counts[s.id]) for s in own),
                        n_total=sum(target_trials(s) for s in own),
                    )
                )
            return summaries

    def get(self, comparison_id: int) -> ComparisonView:
        with self.db.transaction(write=False) as session:
            return self._view(session, repo.get_comparison(session, comparison_id))

    def update(self, comparison_id: int, action: StudyAction) -> ComparisonView:
        """Pause every running study, resume every paused one, or cancel every one not yet
        over; 409 when no study is in a state the action applies to."""
        if action not in _APPLIES_TO:
            raise ValidationError(f"unknown action {action!r}: use pause, resume or cancel")
        with self.db.transaction() as session:
            comparison = repo.lock_comparison(session, comparison_id)
            studies = repo.comparison_studies(session, [comparison_id])
            targets = [s for s in studies if s.state in _APPLIES_TO[action]]
            if not targets:
                raise ConflictError(
                    f"comparison {comparison_id} is {comparison_state(studies)}: "
                    f"none of its studies can {action}"
                )
            for study in targets:  # in id order, as every locker does: no deadlock
                StudyService.apply_action(
                    session, lock_study(session, study.id), action, self.outbox
                )
            session.flush()
            view = self._view(session, comparison)
        if action == "cancel" and self.on_over is not None:
            for study in targets:
                self.on_over(study.id)
        return view

    def delete(self, comparison_id: int) -> None:
        """Delete the comparison with its studies, trials and reports."""
        with self.db.transaction() as session:
            gone = [s.id for s in repo.comparison_studies(session, [comparison_id])]
            repo.delete_comparison(session, comparison_id)
        for study_id in gone:
            if self.on_over is not None:
                self.on_over(study_id)
            self._deleted(study_id)

    def record_final(self, comparison_id: int, sampler: str, result: FinalResult) -> ComparisonView:
        """Store (or replace) the test metric of a sampler's winner after final training."""
        with self.db.transaction() as session:
            comparison = repo.lock_comparison(session, comparison_id)
            names = _sampler_names(comparison)
            if sampler not in names:
                raise ValidationError(
                    f"comparison {comparison_id} has no sampler {sampler!r}: "
                    f"use one of {', '.join(names)}"
                )
            record: dict[str, Any] = {
                "test_metric": result.test_metric,
                "test_metric_sd": result.test_metric_sd,
                "metric": result.metric,
                "seeds": list(result.seeds),
                "study_id": result.study_id,
                "trial_id": result.trial_id,
                "recorded_at": utcnow().isoformat(timespec="seconds"),
            }
            # A new dict: the JSON column only notices reassignment, not in-place changes.
            comparison.final = {**comparison.final, sampler: record}
            session.flush()
            return self._view(session, comparison)

    # -- the derived view --------------------------------------------------------------------
    def _view(self, session: Session, comparison: Comparison) -> ComparisonView:
        spec = comparison.spec
        objectives = StudyObjectives.of_spec(spec)
        # Several objectives: each trial's "value" is the hypervolume of its study's front
        # after it, so the curves and the ranking below read hypervolume (higher is better).
        maximize = objectives.multi or (
            spec["task"].get("direction", "maximize") == Direction.MAXIMIZE
        )
        studies = repo.comparison_studies(session, [comparison.id])
        counts = repo.count_trials_by_state_for(session, [s.id for s in studies])
        histories = _histories(session, studies, maximize=maximize, objectives=objectives)
        names = _sampler_names(comparison)
        n_axis = max((target_trials(s) for s in studies), default=int(spec["n_trials"]))

        curve_map: dict[str, SamplerCurves] = {}
        rows: list[tuple[str, list[float | None], int]] = []
        for name in names:
            own = [s for s in studies if s.sampler == name]
            seeds = [histories[s.id] for s in own]
            curve_map[name] = SamplerCurves(
                by_trial=curves.by_trial(seeds, n_axis), by_time=curves.by_time(seeds)
            )
            finished = sum(_n_finished(counts[s.id]) for s in own)
            rows.append((name, [h.final_best for h in seeds], finished))

        spreads = [curves.spread(best_values) for _, best_values, _ in rows]
        ranks = curves.rank([s.median for s in spreads], maximize=maximize)
        results = [
            _result(name, rank, spread, best_values, finished, comparison.final.get(name))
            for (name, best_values, finished), spread, rank in zip(
                rows, spreads, ranks, strict=True
            )
        ]
        # Best first; ties keep the order the samplers were listed in.
        results.sort(key=lambda r: r.rank)
        noise = separability.judge(
            [
                separability.SamplerSpread(
                    r.sampler,
                    r.rank,
                    r.q25_best,
                    r.q75_best,
                    sum(1 for v in r.best_values if v is not None),
                )
                for r in results
            ]
        )
        return ComparisonView(
            id=comparison.id,
            name=comparison.name,
            state=comparison_state(studies),
            created_at=comparison.created_at,
            direction="maximize" if maximize else "minimize",
            objective="hypervolume"
            if objectives.multi
            else str(spec["task"].get("metric", "val_accuracy")),
            task=dict(spec["task"]),
            n_trials=_budget(comparison, studies),
            repeats=int(spec["repeats"]),
            samplers=names,
            studies=[
                ComparisonStudy(
                    id=s.id,
                    sampler=s.sampler,
                    seed=int(s.seed or 0),
                    state=str(s.state),
                    n_finished=_n_finished(counts[s.id]),
                    best_value=histories[s.id].final_best,
                )
                for s in studies
            ],
            curves=curve_map,
            results=results,
            n_finished=sum(_n_finished(counts[s.id]) for s in studies),
            n_total=sum(target_trials(s) for s in studies),
            spec=dict(spec),
            within_noise=noise.within_noise,
            verdict=noise.verdict,
        )


def comparison_state(studies: Sequence[Study]) -> str:
    """running while any study runs, else paused while any is paused, else cancelled when
    any was cancelled, else completed."""
    states = {s.state for s in studies}
    for state in (StudyState.RUNNING, StudyState.PAUSED, StudyState.CANCELLED):
        if state in states:
            return str(state)
    return str(StudyState.COMPLETED)


def _histories(
    session: Session,
    studies: Sequence[Study],
    *,
    maximize: bool,
    objectives: StudyObjectives,
) -> dict[int, curves.SeedHistory]:
    by_study: dict[int, list[repo.FinishedTrial]] = {s.id: [] for s in studies}
    for trial in repo.finished_trials(session, list(by_study)):
        by_study[trial.study_id].append(trial)
    over = (StudyState.COMPLETED, StudyState.CANCELLED)
    if objectives.multi:
        values = _hypervolumes(by_study, objectives)
    else:
        values = {
            sid: [
                t.value if t.state is TrialState.COMPLETED and t.feasible is not False else None
                for t in trials
            ]
            for sid, trials in by_study.items()
        }
    return {
        s.id: curves.SeedHistory.of(
            values[s.id],
            [_duration(t) for t in by_study[s.id]],
            maximize=maximize,
            done=s.state in over,
        )
        for s in studies
    }


def _hypervolumes(
    by_study: Mapping[int, list[repo.FinishedTrial]], objectives: StudyObjectives
) -> dict[int, list[float | None]]:
    """Each study's hypervolume after each finished trial (None before its first feasible
    result), against one reference for the whole comparison: the spec's, or the worst
    feasible values observed in any of its studies (so the samplers are measured alike)."""
    k = len(objectives.metrics)

    def row(t: repo.FinishedTrial) -> list[float]:
        ok = (
            t.state is TrialState.COMPLETED
            and t.feasible is not False
            and t.objective_values is not None
            and len(t.objective_values) == k
        )
        return [float(v) for v in t.objective_values] if ok else [np.nan] * k  # type: ignore[union-attr]

    losses = {
        sid: to_losses([row(t) for t in trials], objectives.directions).reshape(-1, k)
        for sid, trials in by_study.items()
    }
    pooled = np.concatenate([y for y in losses.values()] or [np.zeros((0, k))])
    reference = reference_point(objectives, pooled)
    out: dict[int, list[float | None]] = {}
    for sid, y in losses.items():
        if reference is None:
            out[sid] = [None] * len(y)
            continue
        seen = np.cumsum(np.all(np.isfinite(y), axis=1)) > 0
        hv = hypervolume_history(y, reference)
        out[sid] = [h if s else None for h, s in zip(hv, seen, strict=True)]
    return out


def _duration(trial: repo.FinishedTrial) -> float:
    if trial.started_at is None or trial.finished_at is None:
        return 0.0
    return max(0.0, (trial.finished_at - trial.started_at).total_seconds())


def _n_finished(counts: Mapping[TrialState, int]) -> int:
    return sum(counts[s] for s in FINISHED)


def _sampler_names(comparison: Comparison) -> list[str]:
    return [str(s["name"]) for s in comparison.spec["samplers"]]


def _result(
    name: str,
    rank: int,
    spread: curves.Spread,
    best_values: list[float | None],
    n_finished: int,
    final: Mapping[str, Any] | None,
) -> SamplerResult:
    return SamplerResult(
        sampler=name,
        rank=rank,
        median_best=spread.median,
        q25_best=spread.q25,
        q75_best=spread.q75,
        best_values=best_values,
        n_finished=n_finished,
        test_metric=final["test_metric"] if final else None,
        test_metric_sd=final.get("test_metric_sd") if final else None,
        final=dict(final) if final else None,
    )


def _budget(comparison: Comparison, studies: Sequence[Study]) -> int:
    """Trials per study: the studies' own budget, which a PATCH may have raised since the
    comparison was created (the spec keeps the budget it was created with)."""
    return max((s.n_trials for s in studies), default=int(comparison.spec["n_trials"]))
