"""What the web UI plots, aggregated on the server so a study of 10 000 trials stays fast:
compact columns (arrays, not one object per trial), capped samples that say they are capped,
downsampled intermediate curves, and cached importances.

    analytics = StudyAnalytics(db)
    analytics.plots(study_id)       # history + best so far, a params sample, worker timeline
    analytics.curves(study_id)      # intermediate values of the best and the latest trials
    analytics.importance(study_id)  # PED-ANOVA, recomputed only when more trials completed
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hpo.service.importance import ImportanceCache, ImportanceView, compute_importance
from hpo.space import Categorical, Float, space_from_dict
from hpo.storage import Database, Direction, TrialState
from hpo.storage import repositories as repo
from hpo.storage.repositories import analytics as columns

# States in the compact columns are indexes into this list.
STATE_CODES = [str(s) for s in TrialState]


@dataclass(frozen=True)
class ParamAxis:
    """One searched parameter, as a plot axis: numeric (with its range and scale) or
    categorical (with its choices as labels, in the space's order; the sample's values of a
    categorical are the same labels)."""

    name: str
    type: str
    log: bool
    low: float | None
    high: float | None
    choices: list[str] | None


@dataclass(frozen=True)
class History:
    """Finished trials by number: state code, value (a pruned trial's last report; None for
    a failed one) and the best completed value so far."""

    number: list[int]
    state: list[int]
    value: list[float | None]
    best: list[float | None]


@dataclass(frozen=True)
class ParamSample:
    """Completed trials for parallel coordinates and slice plots: every one up to the cap,
    beyond it the best quarter of the cap plus an even spread of the rest."""

    number: list[int]
    value: list[float]
    params: dict[str, list[Any]]
    n_total: int


@dataclass(frozen=True)
class Timeline:
    """The latest started trials: who ran them and when (epoch milliseconds; end None while
    running)."""

    workers: list[str]
    number: list[int]
    worker: list[int]
    state: list[int]
    start: list[float]
    end: list[float | None]
    n_total: int


@dataclass(frozen=True)
class StudyPlots:
    study_id: int
    direction: str
    metric: str
    states: list[str]
    params: list[ParamAxis]
    history: History
    sample: ParamSample
    timeline: Timeline


@dataclass(frozen=True)
class Curve:
    number: int
    state: str
    step: list[int]
    value: list[float]


@dataclass(frozen=True)
class StudyCurves:
    """Intermediate values of the best completed trials and of the latest trials (pruned ones
    included), each downsampled to at most `max_points` points."""

    study_id: int
    n_total: int
    curves: list[Curve]


def _axes(spec: dict[str, Any]) -> list[ParamAxis]:
    axes = []
    # By name: PostgreSQL's JSONB does not keep the order the space was written in.
    for name, d in sorted(space_from_dict(spec["space"]).items()):
        if isinstance(d, Categorical):
            axes.append(
                ParamAxis(name, "categorical", False, None, None, [label(c) for c in d.choices])
            )
        else:
            kind = "float" if isinstance(d, Float) else "int"
            axes.append(ParamAxis(name, kind, d.log, float(d.low), float(d.high), None))
    return axes


def label(choice: Any) -> str:
    """A categorical choice as a plot label, the same in Python and JavaScript: 64 -> "64",
    True -> "true" (str() would give "True", which the page's String(true) never matches)."""
    return choice if isinstance(choice, str) else json.dumps(choice)


def _best_so_far(
    values: list[float | None], states: list[int], maximize: bool
) -> list[float | None]:
    completed = STATE_CODES.index(str(TrialState.COMPLETED))
    best: list[float | None] = []
    current: float | None = None
    for value, state in zip(values, states, strict=True):
        if (
            state == completed
            and value is not None
            and (current is None or (value > current if maximize else value < current))
        ):
            current = value
        best.append(current)
    return best


def spread(n: int, k: int) -> list[int]:
    """k indexes spread evenly over range(n), first and last included (all when k >= n)."""
    if k >= n:
        return list(range(n))
    if k <= 1:
        return [n - 1] if k == 1 else []
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _epoch_ms(moment: datetime) -> float:
    return float(moment.timestamp() * 1000.0)


class StudyAnalytics:
    """Read-only aggregations over one study for the UI. Every method is one read
    transaction; the importance cache is the only state, shared by the API's threads."""

    def __init__(
        self,
        db: Database,
        *,
        max_sample: int = 2000,
        max_timeline: int = 2000,
        max_importance_trials: int = 2000,
    ) -> None:
        self.db = db
        self.max_sample = max_sample
        self.max_timeline = max_timeline
        self.max_importance_trials = max_importance_trials
        self._importance = ImportanceCache()

    def plots(self, study_id: int) -> StudyPlots:
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            maximize = Direction(study.direction) is Direction.MAXIMIZE
            finished = columns.finished_trial_columns(session, study_id)
            numbers = [n for n, _, _, _ in finished]
            states = [STATE_CODES.index(str(s)) for _, s, _, _ in finished]
            values = [
                v if v is not None else (r if s is TrialState.PRUNED else None)
                for _, s, v, r in finished
            ]
            # An infeasible trial is drawn, but never the best so far.
            infeasible = columns.infeasible_numbers(session, study_id)
            rankable = [
                None if n in infeasible else v for n, v in zip(numbers, values, strict=True)
            ]
            history = History(numbers, states, values, _best_so_far(rankable, states, maximize))
            axes = _axes(study.spec)
            sample = self._sample(session, study_id, maximize, axes)
            timeline = self._timeline(session, study_id)
            return StudyPlots(
                study_id=study_id,
                direction=str(study.direction),
                metric=str(study.spec["task"].get("metric", "value")),
                states=STATE_CODES,
                params=axes,
                history=history,
                sample=sample,
                timeline=timeline,
            )

    def _sample(
        self, session: Session, study_id: int, maximize: bool, axes: list[ParamAxis]
    ) -> ParamSample:
        completed = columns.completed_values(session, study_id)
        if len(completed) > self.max_sample:
            ranked = sorted(completed, key=lambda nv: (-nv[1] if maximize else nv[1], nv[0]))
            top = ranked[: self.max_sample // 4]
            rest = sorted(ranked[self.max_sample // 4 :])
            picked = top + [rest[i] for i in spread(len(rest), self.max_sample - len(top))]
            chosen = sorted(picked)
        else:
            chosen = completed
        params = columns.params_of(session, study_id, [n for n, _ in chosen])
        columns_by_name: dict[str, list[Any]] = {}
        for axis in axes:
            values = [params.get(n, {}).get(axis.name) for n, _ in chosen]
            if axis.type == "categorical":
                values = [None if v is None else label(v) for v in values]
            columns_by_name[axis.name] = values
        return ParamSample(
            number=[n for n, _ in chosen],
            value=[v for _, v in chosen],
            params=columns_by_name,
            n_total=len(completed),
        )

    def _timeline(self, session: Session, study_id: int) -> Timeline:
        rows = columns.latest_started(session, study_id, self.max_timeline)
        # A requeued trial's row forgets its worker (the next claim sets it again).
        names = [worker or "(requeued)" for _, _, worker, _, _ in rows]
        workers = sorted(set(names))
        index = {name: i for i, name in enumerate(workers)}
        return Timeline(
            workers=workers,
            number=[n for n, _, _, _, _ in rows],
            worker=[index[name] for name in names],
            state=[STATE_CODES.index(str(s)) for _, s, _, _, _ in rows],
            start=[_epoch_ms(st) for _, _, _, st, _ in rows],
            end=[_epoch_ms(f) if f is not None else None for _, _, _, _, f in rows],
            n_total=columns.count_started(session, study_id),
        )

    def curves(
        self, study_id: int, *, best: int = 20, latest: int = 80, max_points: int = 100
    ) -> StudyCurves:
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            picked = {
                trial_id: (number, state)
                for trial_id, number, state in (
                    *columns.best_reporting_trials(session, study_id, study.direction, best),
                    *columns.latest_reporting_trials(session, study_id, latest),
                )
            }
            reports = columns.reports_of(session, picked)
            curves = []
            for trial_id, (number, state) in sorted(picked.items(), key=lambda kv: kv[1][0]):
                points = reports.get(trial_id, [])
                kept = [points[i] for i in spread(len(points), max_points)]
                curves.append(Curve(number, str(state), [s for s, _ in kept], [v for _, v in kept]))
            return StudyCurves(
                study_id=study_id,
                n_total=columns.count_reporting_trials(session, study_id),
                curves=curves,
            )

    def importance(self, study_id: int) -> ImportanceView:
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            n_completed = repo.count_trials(session, study_id, states=[TrialState.COMPLETED])
            cached = self._importance.get(study_id, n_completed)
            if cached is not None:
                return cached
            trials = columns.latest_completed(session, study_id, self.max_importance_trials)
            spec = dict(study.spec)
            direction = str(study.direction)
        # The evaluation runs outside the transaction: it holds no connection while it works.
        view = compute_importance(
            study_id, space_from_dict(spec["space"]), direction, trials, n_completed
        )
        self._importance.put(study_id, n_completed, view)
        return view
