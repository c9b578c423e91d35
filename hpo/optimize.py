"""`hpo.optimize`: the local, serverless loop over the same samplers the service uses.

import hpo

def objective(params: dict) -> float:
    return (params["x"] - 2) ** 2 + (params["y"] + 1) ** 2

result = hpo.optimize(objective, {"x": {"type": "float", "low": -5, "high": 5},
                                  "y": {"type": "float", "low": -5, "high": 5}},
                      sampler="tpe", n_trials=50, seed=0)
result.best_params, result.best_value, result.trials[0].state

Several objectives: `objectives` names them (directions, or `{"metric": ..., "direction": ...}`
mappings) and the function returns one value per objective (a sequence in that order, or a
mapping by metric name); `constraints` (`{"metric": ..., "max": ...}`) read the returned
mapping. `result.pareto` holds the non-dominated feasible trials, sorted by the first
objective; `result.best_*` is the best of them on the first objective.

result = hpo.optimize(lambda p: {"err": p["x"] ** 2, "size": (p["x"] - 2) ** 2},
                      {"x": {"type": "float", "low": -5, "high": 5}}, sampler="nsga2",
                      objectives=[{"metric": "err"}, {"metric": "size"}])
result.pareto
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from hpo.errors import ValidationError
from hpo.objectives import ConstraintSpec, ObjectiveSpec, check_objectives
from hpo.pareto import pareto_front_indices, to_losses
from hpo.samplers import (
    DIRECTIONS,
    Direction,
    Observation,
    ObservationState,
    Sampler,
    SamplerFeed,
    SamplerRegistry,
    default_registry,
)
from hpo.space import Params, SearchSpace, as_space

__all__ = ["OptimizeResult", "Trial", "optimize"]


@dataclass(frozen=True)
class Trial:
    """One evaluation, in order. `state` is completed, failed (the objective raised, or did
    not return a number: see `error`) or diverged (it returned NaN or inf)."""

    number: int
    params: Params
    value: float | None
    state: ObservationState
    error: str | None = None
    duration_s: float = 0.0
    values: tuple[float, ...] | None = None  # several objectives: one value each
    violations: tuple[float, ...] = ()  # constraints: > 0 where one is broken

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations)

    def to_observation(self) -> Observation:
        return Observation(
            self.params, self.value, self.state, values=self.values, violations=self.violations
        )


@dataclass(frozen=True)
class OptimizeResult:
    """What `optimize` returns. `best_params`/`best_value` are None when no trial completed."""

    best_params: Params | None
    best_value: float | None
    trials: tuple[Trial, ...]
    direction: Direction
    directions: tuple[Direction, ...] = ()  # several objectives; empty: `direction` alone

    @property
    def pareto(self) -> tuple[Trial, ...]:
        """The non-dominated feasible completed trials, sorted by the first objective (one
        objective: the best trial alone)."""
        directions = self.directions or (self.direction,)
        done = [
            t
            for t in self.trials
            if t.state is ObservationState.COMPLETED and t.feasible and t.value is not None
        ]
        if not done:
            return ()
        rows = [t.values if t.values is not None else (t.value,) for t in done]
        losses = to_losses(rows, [str(d) for d in directions])
        return tuple(done[i] for i in pareto_front_indices(losses))

    @property
    def best_trial(self) -> Trial | None:
        done = [t for t in self.trials if t.state is ObservationState.COMPLETED and t.feasible]
        if not done:
            return None
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(done, key=lambda t: sign * t.value)  # type: ignore[operator]

    def best_so_far(self) -> list[float | None]:
        """Best value after each trial (None until the first completed one), for curves."""
        out: list[float | None] = []
        best: float | None = None
        for t in self.trials:
            value = t.value if t.state is ObservationState.COMPLETED else None
            if value is not None and (
                best is None or (value < best if self.direction == "minimize" else value > best)
            ):
                best = value
            out.append(best)
        return out


def optimize(
    objective: Callable[[Params], Any],
    space: SearchSpace | Mapping[str, Any],
    sampler: str | Sampler = "lipo",
    n_trials: int = 100,
    direction: Direction = "minimize",
    seed: int = 0,
    sampler_options: Mapping[str, Any] | None = None,
    *,
    callback: Callable[[Trial], None] | None = None,
    enqueue: Sequence[Mapping[str, Any]] = (),
    registry: SamplerRegistry | None = None,
    objectives: Sequence[str | Mapping[str, Any]] | None = None,
    constraints: Sequence[Mapping[str, Any]] = (),
) -> OptimizeResult:
    """Minimize (or maximize) `objective` over `space` with `n_trials` evaluations.

    Args:
        objective: called with a fresh dict of params for each trial; returns a float. An
            exception, or a return value that is not a number, makes a failed trial; NaN or
            inf a diverged one; the loop goes on either way (KeyboardInterrupt stops it).
        space: a `SearchSpace`, or a mapping in the YAML format (`{"lr": {"type": "float",
            "low": 1e-5, "high": 0.1, "log": True}}`).
        sampler: a registry name (grid, random, qmc, tpe, gp, cmaes, lipo) or a sampler
            object already built for `space`.
        n_trials: the budget; fewer are run when the sampler is exhausted (a finished grid).
        direction: "minimize" or "maximize".
        seed: the sampler's seed; the same seed gives the same trials for a deterministic
            objective.
        sampler_options: options for a sampler given by name (see each sampler's docstring).
        callback: called with each finished `Trial`, in order.
        enqueue: configurations to evaluate first, before the sampler's suggestions.
        registry: where sampler names are looked up (default: the built-in samplers).
        objectives: several objectives, each a direction or a mapping `{"metric": name,
            "direction": ...}` (default: `direction`); the function then returns a sequence
            of values in this order, or a mapping by metric (needed with constraints).
            Replaces `direction`.
        constraints: `{"metric": name, "min": ..., "max": ...}` each (min and/or max) on the
            returned mapping; a trial breaking one is infeasible: never best, nor in `pareto`.

    Returns:
        `OptimizeResult(best_params, best_value, trials, direction)`, trials in evaluation order.

    Raises:
        ValidationError / SearchSpaceError / UnknownSamplerError for bad arguments, before any
        evaluation.
    """
    space = as_space(space)
    if direction not in DIRECTIONS:
        raise ValidationError(f"direction must be minimize or maximize, got {direction!r}")
    if not isinstance(n_trials, int) or n_trials < 0:
        raise ValidationError(f"n_trials must be an integer >= 0, got {n_trials!r}")
    goals = _goals(objectives, constraints, direction)
    direction = goals.directions[0]
    if isinstance(sampler, str):
        sampler = (registry or default_registry()).create(
            sampler,
            space,
            direction=direction,
            seed=seed,
            options=sampler_options,
            directions=goals.directions,
            n_constraints=len(goals.constraints),
        )
    queue = [space.validate(p) for p in enqueue]

    trials: list[Trial] = []
    # One sampler object, told the history before each ask: the whole history the first time,
    # then only the new results where the sampler can take them (`IncrementalSampler.extend`:
    # the same suggestions, without the prefix check or keeping the history here).
    feed = SamplerFeed(sampler)
    for number in range(n_trials):
        if number < len(queue):
            params = queue[number]
        else:
            feed.tell(())
            suggestions = sampler.ask(1)
            if not suggestions:
                break
            params = suggestions[0]
        trial = _evaluate(objective, number, params, goals)
        trials.append(trial)
        feed.append(trial.to_observation())
        if callback is not None:
            callback(trial)

    several = goals.directions if objectives is not None else ()
    result = OptimizeResult(None, None, tuple(trials), direction, several)
    best = result.pareto[0] if several and result.pareto else result.best_trial
    if best is None:
        return result
    return OptimizeResult(dict(best.params), best.value, tuple(trials), direction, several)


@dataclass(frozen=True)
class _Goals:
    """What the objective's return value is read as (`StudyObjectives`, without a task)."""

    metrics: tuple[str, ...] | None  # None: a single float, or a sequence by position
    directions: tuple[Direction, ...]
    constraints: tuple[tuple[str, float | None, float | None], ...]

    @property
    def plain(self) -> bool:
        return self.metrics is None and len(self.directions) == 1 and not self.constraints


def _goals(
    objectives: Sequence[str | Mapping[str, Any]] | None,
    constraints: Sequence[Mapping[str, Any]],
    direction: Direction,
) -> _Goals:
    if objectives is None:
        if constraints:
            raise ValidationError(
                "constraints read metrics by name: give objectives=[{'metric': ...}] and "
                "return a mapping of metric values"
            )
        return _Goals(None, (direction,), ())
    if isinstance(objectives, str) or not objectives:
        raise ValidationError(
            "objectives must be a non-empty list of directions or {'metric', 'direction'} "
            f"mappings, got {objectives!r}"
        )
    if all(isinstance(o, str) for o in objectives):
        bad = [o for o in objectives if o not in DIRECTIONS]
        if bad:
            raise ValidationError(
                f"objectives: {bad[0]!r} is not a direction: use minimize or maximize, or "
                "{'metric': name, 'direction': ...} mappings"
            )
        if constraints:
            raise ValidationError("constraints need named objectives: {'metric': ...} mappings")
        return _Goals(None, tuple(objectives), ())  # type: ignore[arg-type]
    if not all(isinstance(o, Mapping) for o in objectives):
        raise ValidationError("objectives: give all directions, or all {'metric': ...} mappings")
    try:
        # A mapping without a direction takes `direction` (minimize unless told).
        parsed = [
            ObjectiveSpec(**{"direction": direction, **o})  # type: ignore[dict-item]
            for o in objectives
        ]
        limits = [ConstraintSpec(**c) for c in constraints]
    except (TypeError, pydantic.ValidationError) as e:
        raise ValidationError(f"bad objectives or constraints: {e}") from e
    try:
        check_objectives(parsed, limits, known_metrics=None)
    except ValueError as e:
        raise ValidationError(str(e)) from e
    return _Goals(
        tuple(o.metric for o in parsed),
        tuple(o.direction or "minimize" for o in parsed),
        tuple((c.metric, c.min, c.max) for c in limits),
    )


def _read_values(raw: object, goals: _Goals) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(objective values, constraint violations) of what a multi-objective function returned;
    raises TypeError/ValueError/KeyError for a value the goals cannot read."""
    if goals.metrics is None:
        if isinstance(raw, Mapping | str):
            raise TypeError("return a sequence of values, one per objective, in order")
        values = tuple(float(v) for v in raw)  # type: ignore[attr-defined]
        if len(values) != len(goals.directions):
            raise ValueError(
                f"returned {len(values)} values for {len(goals.directions)} objectives"
            )
        return values, ()
    if not isinstance(raw, Mapping):
        raise TypeError(f"return a mapping with {', '.join(goals.metrics)}")
    values = tuple(float(raw[m]) for m in goals.metrics)
    violations = []
    for metric, low, high in goals.constraints:
        x = float(raw[metric])
        over = 0.0
        if low is not None:
            over = max(over, low - x)
        if high is not None:
            over = max(over, x - high)
        violations.append(over)
    return values, tuple(violations)


def _evaluate(
    objective: Callable[[Params], Any], number: int, params: Params, goals: _Goals
) -> Trial:
    if goals.plain:
        return _evaluate_one(objective, number, params)
    start = time.perf_counter()
    try:
        raw: object = objective(dict(params))
    except Exception as e:  # the objective is user code: any error is a failed trial
        error = f"{type(e).__name__}: {e}"
        return Trial(
            number, params, None, ObservationState.FAILED, error, time.perf_counter() - start
        )
    elapsed = time.perf_counter() - start
    try:
        values, violations = _read_values(raw, goals)
    except (TypeError, ValueError, KeyError) as e:
        error = f"the objective returned {type(raw).__name__} that cannot be read: {e}"
        return Trial(number, params, None, ObservationState.FAILED, error, elapsed)
    if not all(math.isfinite(v) for v in values):
        error = f"the objective returned {values}"
        return Trial(number, params, None, ObservationState.DIVERGED, error, elapsed)
    return Trial(
        number, params, values[0], ObservationState.COMPLETED, None, elapsed, values, violations
    )


def _evaluate_one(objective: Callable[[Params], float], number: int, params: Params) -> Trial:
    start = time.perf_counter()
    try:
        raw: object = objective(dict(params))
    except Exception as e:  # the objective is user code: any error is a failed trial
        return Trial(
            number,
            params,
            None,
            ObservationState.FAILED,
            f"{type(e).__name__}: {e}",
            time.perf_counter() - start,
        )
    elapsed = time.perf_counter() - start
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        try:
            value = float(raw)  # type: ignore[arg-type]  # numpy scalars, 0-d arrays, tensors
        except (TypeError, ValueError):
            return Trial(
                number,
                params,
                None,
                ObservationState.FAILED,
                f"the objective returned {type(raw).__name__}, not a number",
                elapsed,
            )
    else:
        value = float(raw)
    if not math.isfinite(value):
        return Trial(
            number,
            params,
            None,
            ObservationState.DIVERGED,
            f"the objective returned {value}",
            elapsed,
        )
    return Trial(number, params, value, ObservationState.COMPLETED, None, elapsed)
