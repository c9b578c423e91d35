"""Objectives and constraints of a study: their spec fields and what a result makes of them.

A study spec may carry, beside (or in place of) the task's single `metric`/`direction`::

    objectives:  [{metric: val_accuracy, direction: maximize},
                  {metric: n_params, direction: minimize}]
    constraints: [{metric: n_params, max: 200000}, {metric: latency_ms, max: 2.0}]

- `objectives` (one or more, each metric once): without it the study has one objective, the
  task's metric. `reference` (optional, per objective) is the hypervolume reference value
  for that objective; without it the worst observed value is used (`hpo.pareto`).
- `constraints`: each names a metric and `min` and/or `max` (inclusive). A completed trial
  whose metrics break one (or lack the metric) is *infeasible*: it stays completed, is never
  the best nor on the Pareto front, and is given to the samplers with its violations
  (`Observation.violations`: how far past each bound, > 0 when broken).

`StudyObjectives.of_spec(spec)` reads both from a stored spec; `evaluate(value, metrics)`
turns a completed trial's result into its objective values and violations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hpo.errors import ValidationError

# What the built-in trainers report in a completed trial's metrics (hpo/worker/trial.py).
TRAINER_METRICS = (
    "val_accuracy",
    "val_loss",
    "train_loss",
    "n_params",
    "latency_ms",
    "seconds_total",
    "seconds_per_epoch",
)
# Without a direction, these are minimized and every other metric maximized.
_MINIMIZED = ("loss", "n_params", "latency_ms", "seconds", "error")
MAX_OBJECTIVES = 8
MAX_CONSTRAINTS = 16
MetricName = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")


def default_direction(metric: str) -> Literal["minimize", "maximize"]:
    return "minimize" if any(part in metric for part in _MINIMIZED) else "maximize"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ObjectiveSpec(_Frozen):
    metric: str = MetricName
    direction: Literal["minimize", "maximize"] | None = None
    reference: float | None = None  # the hypervolume reference value of this objective

    @model_validator(mode="after")
    def _infer_direction(self) -> ObjectiveSpec:
        if self.direction is None:
            object.__setattr__(self, "direction", default_direction(self.metric))
        return self


class ConstraintSpec(_Frozen):
    metric: str = MetricName
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> ConstraintSpec:
        if self.min is None and self.max is None:
            raise ValueError(
                f"constraint on {self.metric!r} has neither min nor max: give min, max or both"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"constraint on {self.metric!r}: min {self.min} is above max {self.max}"
            )
        return self


def check_objectives(
    objectives: Sequence[ObjectiveSpec],
    constraints: Sequence[ConstraintSpec],
    *,
    known_metrics: Sequence[str] | None,
) -> None:
    """Refuse an objective named twice, or (for built-in trainers, `known_metrics` given) an
    objective or constraint on a metric the task cannot produce. Raises ValueError."""
    if len(objectives) > MAX_OBJECTIVES:
        raise ValueError(f"objectives: {len(objectives)} given, use at most {MAX_OBJECTIVES}")
    if len(constraints) > MAX_CONSTRAINTS:
        raise ValueError(f"constraints: {len(constraints)} given, use at most {MAX_CONSTRAINTS}")
    seen: set[str] = set()
    for o in objectives:
        if o.metric in seen:
            raise ValueError(
                f"objectives name {o.metric!r} twice: list each metric once "
                f"({', '.join(x.metric for x in objectives)})"
            )
        seen.add(o.metric)
    if known_metrics is None:
        return
    for what, metric in [("objective", o.metric) for o in objectives] + [
        ("constraint", c.metric) for c in constraints
    ]:
        if metric not in known_metrics:
            raise ValueError(
                f"{what} metric {metric!r} is not one the built-in trainers report: use one "
                f"of {', '.join(known_metrics)} (or check_config: false for your own metrics)"
            )


@dataclass(frozen=True)
class Evaluated:
    """A completed result seen through the study's objectives and constraints."""

    values: tuple[float, ...]  # one per objective, in its own direction
    violations: tuple[float, ...]  # one per constraint: > 0 when broken (by that much)

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations)


@dataclass(frozen=True)
class StudyObjectives:
    """A study's objectives (metric, direction, reference) and constraints, from its spec."""

    metrics: tuple[str, ...]
    directions: tuple[Literal["minimize", "maximize"], ...]
    references: tuple[float | None, ...]
    constraints: tuple[tuple[str, float | None, float | None], ...]  # (metric, min, max)
    task_metric: str

    @classmethod
    def of_spec(cls, spec: Mapping[str, Any]) -> StudyObjectives:
        task = spec.get("task") or {}
        task_metric = str(task.get("metric") or "val_accuracy")
        objectives = spec.get("objectives") or [
            {"metric": task_metric, "direction": task.get("direction")}
        ]
        metrics = tuple(str(o["metric"]) for o in objectives)
        directions = tuple(
            o.get("direction") or default_direction(str(o["metric"])) for o in objectives
        )
        return cls(
            metrics=metrics,
            directions=directions,
            references=tuple(o.get("reference") for o in objectives),
            constraints=tuple(
                (str(c["metric"]), c.get("min"), c.get("max"))
                for c in spec.get("constraints") or ()
            ),
            task_metric=task_metric,
        )

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    @property
    def plain(self) -> bool:
        """One objective, the task's metric, no constraints: results need no evaluation."""
        return not self.constraints and self.metrics == (self.task_metric,)

    def evaluate(self, value: float, metrics: Mapping[str, Any]) -> Evaluated:
        """Objective values and constraint violations of a completed result (`value` is the
        task metric's value). Raises ValidationError when an objective's metric is missing."""
        values = []
        for name in self.metrics:
            raw = value if name == self.task_metric else metrics.get(name)
            if not _number(raw):
                raise ValidationError(
                    f"the result has no finite numeric metric {name!r}, an objective of this "
                    f"study: send it in metrics (sent: {', '.join(sorted(metrics)) or 'none'})"
                )
            values.append(float(raw))  # type: ignore[arg-type]  # a number: checked above
        violations = []
        for name, low, high in self.constraints:
            raw = value if name == self.task_metric else metrics.get(name)
            if not _number(raw):
                # A missing metric counts as broken; finite, so it stays JSON and SQL safe.
                violations.append(1e300)
                continue
            x = float(raw)  # type: ignore[arg-type]  # a number: checked above
            over = 0.0
            if low is not None:
                over = max(over, float(low) - x)
            if high is not None:
                over = max(over, x - float(high))
            violations.append(over)
        return Evaluated(tuple(values), tuple(violations))


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
