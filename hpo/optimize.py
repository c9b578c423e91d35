"""`hpo.optimize`: the local, serverless loop over the same samplers the service uses.

import hpo

def objective(params: dict) -> float:
    return (params["x"] - 2) ** 2 + (params["y"] + 1) ** 2

result = hpo.optimize(objective, {"x": {"type": "float", "low": -5, "high": 5},
                                  "y": {"type": "float", "low": -5, "high": 5}},
                      sampler="tpe", n_trials=50, seed=0)
result.best_params, result.best_value, result.trials[0].state
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpo.errors import ValidationError
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

    def to_observation(self) -> Observation:
        return Observation(self.params, self.value, self.state)


@dataclass(frozen=True)
class OptimizeResult:
    """What `optimize` returns. `best_params`/`best_value` are None when no trial completed."""

    best_params: Params | None
    best_value: float | None
    trials: tuple[Trial, ...]
    direction: Direction

    @property
    def best_trial(self) -> Trial | None:
        done = [t for t in self.trials if t.state is ObservationState.COMPLETED]
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
    objective: Callable[[Params], float],
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
    if isinstance(sampler, str):
        sampler = (registry or default_registry()).create(
            sampler, space, direction=direction, seed=seed, options=sampler_options
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
        trial = _evaluate(objective, number, params)
        trials.append(trial)
        feed.append(trial.to_observation())
        if callback is not None:
            callback(trial)

    result = OptimizeResult(None, None, tuple(trials), direction)
    best = result.best_trial
    if best is None:
        return result
    return OptimizeResult(dict(best.params), best.value, tuple(trials), direction)


def _evaluate(objective: Callable[[Params], float], number: int, params: Params) -> Trial:
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
