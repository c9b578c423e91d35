"""A study's trials through its objectives: the Pareto front, the hypervolume history and the
trial `--pick` chooses. Reads only; the maths is `hpo.pareto`, the grammar `hpo.pick`.

A single-objective study has a front of one (its best feasible trial), so every caller can
ask for the front without asking how many objectives the study has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.objectives import StudyObjectives
from hpo.pareto import (
    hypervolume_history,
    hypervolume_reference,
    pareto_front_indices,
    to_losses,
)
from hpo.pick import Objective, Pick, choose
from hpo.storage import Study, Trial


def objective_values(trial: Trial, objectives: StudyObjectives) -> list[float] | None:
    """A completed trial's objective values (its `value` alone in a single-objective study)."""
    if trial.objective_values is not None and len(trial.objective_values) == len(
        objectives.metrics
    ):
        return [float(v) for v in trial.objective_values]
    if len(objectives.metrics) == 1 and trial.value is not None:
        return [float(trial.value)]
    return None


def _valued(
    trials: Sequence[Trial], objectives: StudyObjectives
) -> list[tuple[Trial, list[float]]]:
    out = []
    for t in trials:
        values = objective_values(t, objectives)
        if values is not None:
            out.append((t, values))
    return out


def pareto_trials(study: Study, feasible: Sequence[Trial]) -> list[Trial]:
    """The non-dominated trials among `feasible` (completed, no constraint broken), sorted by
    the first objective (best first), then the others."""
    objectives = StudyObjectives.of_spec(study.spec)
    valued = _valued(feasible, objectives)
    if not valued:
        return []
    losses = to_losses([v for _, v in valued], objectives.directions)
    return [valued[i][0] for i in pareto_front_indices(losses)]


def pick_trial(study: Study, feasible: Sequence[Trial], pick: Pick) -> Trial:
    """The trial `pick` chooses among the feasible completed ones (ValidationError when the
    pick names an objective the study lacks, or there is none to pick)."""
    objectives = StudyObjectives.of_spec(study.spec)
    valued = _valued(feasible, objectives)
    candidates = [(v, dict(t.metrics or {}) | {objectives.task_metric: t.value}) for t, v in valued]
    spec_objectives = [
        Objective(m, d) for m, d in zip(objectives.metrics, objectives.directions, strict=True)
    ]
    return valued[choose(pick, candidates, spec_objectives)][0]


@dataclass(frozen=True)
class HypervolumeHistory:
    """The hypervolume of the feasible completed trials after each finished trial."""

    reference: list[float]
    numbers: list[int]  # trial numbers, in the order they finished
    hypervolume: list[float]


def hypervolume_over_trials(study: Study, finished: Sequence[Trial]) -> HypervolumeHistory | None:
    """Hypervolume after each finished trial (in finishing order), against the spec's
    reference point where it gives one for every objective, else the worst observed values.
    None while no trial has objective values."""
    objectives = StudyObjectives.of_spec(study.spec)
    rows: list[list[float]] = []
    for t in finished:
        values = objective_values(t, objectives) if t.feasible is not False else None
        rows.append(values if values is not None else [np.nan] * len(objectives.metrics))
    losses = to_losses(rows, objectives.directions)
    reference = reference_point(objectives, losses)
    if reference is None:
        return None
    return HypervolumeHistory(
        reference=[float(r) for r in reference],
        numbers=[t.number for t in finished],
        hypervolume=hypervolume_history(losses, reference),
    )


def reference_point(objectives: StudyObjectives, losses: Any) -> np.ndarray | None:
    """The hypervolume reference in losses (minimized): the spec's, else the worst observed."""
    if all(r is not None for r in objectives.references):
        signs = [-1.0 if d == "maximize" else 1.0 for d in objectives.directions]
        return np.array([s * float(r) for s, r in zip(signs, objectives.references, strict=True)])  # type: ignore[arg-type]
    y = np.asarray(losses, dtype=np.float64)
    if not np.any(np.all(np.isfinite(y), axis=1)):
        return None
    return hypervolume_reference(y)
