"""Pruners: stop unpromising trials early, decided from the study's intermediate reports.

Pure decisions, no database and no state between calls: the service loads the study's
reports (`hpo.storage.repositories.study_reports`), builds the study's pruner once from its
spec (`make_pruner`), and asks

    pruner.should_prune(reports, trial_id, step)

right after storing the trial's report at `step`. `reports` maps every trial of the study
(the one being decided included) to its (step, value) pairs; a step is the resource used so
far, e.g. epochs completed (1, 2, 3, ...). A pruned trial is a result, not a failure: its last
value counts.

Both pruners compare a trial only with values other trials reported at the same step (or rung),
whatever those trials' states, so decisions are the same on every API replica and after a
restart.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

from hpo.errors import UnknownPrunerError, ValidationError

# trial id -> [(step, value), ...], in any order.
Reports = Mapping[int, Sequence[tuple[int, float]]]

_DIRECTIONS = ("minimize", "maximize")


class Pruner(Protocol):
    """Decides whether the trial that just reported at `step` should stop now."""

    # False: `should_prune` never looks at `reports`, so the service need not read them (a
    # read of every report of the study at or below `step`, on every report: O(history)).
    reads_reports: ClassVar[bool]

    def should_prune(self, reports: Reports, trial_id: int, step: int) -> bool: ...


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise ValidationError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    return str(direction)


def _check_int(name: str, value: object, minimum: int) -> None:
    # bool is an int in Python; `n_warmup_steps: true` in YAML is a mistake, not a 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(
            f"pruner option {name} must be an integer >= {minimum}, got {value!r}"
        )


def _value_at(history: Sequence[tuple[int, float]], step: int) -> float | None:
    for s, v in history:
        if s == step:
            return v
    return None


def _is_better(a: float, b: float, direction: str) -> bool:
    return a < b if direction == "minimize" else a > b


@dataclass(frozen=True)
class NopPruner:
    """Never prunes (`pruner: {name: none}`)."""

    direction: str = "minimize"
    name: ClassVar[str] = "none"
    reads_reports: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_direction(self.direction)

    def should_prune(self, reports: Reports, trial_id: int, step: int) -> bool:
        return False


@dataclass(frozen=True)
class MedianPruner:
    """Median stopping: prune a trial whose best value so far is worse than the median of the
    values other trials reported at the same step.

    The trial's best-so-far (not its latest value) is compared, so one noisy epoch does not
    kill a good trial. No decision before `n_warmup_steps` steps (step < n_warmup_steps), nor
    while fewer than `n_startup_trials` other trials have reported at this step: early medians
    are noise. Unlike Optuna, which counts *completed* trials, other trials count as soon as they
    reach the step, so a study whose trials all run in parallel can still prune.
    A tie with the median is not worse. A non-finite value is always pruned.
    """

    direction: str = "minimize"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    name: ClassVar[str] = "median"
    reads_reports: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_direction(self.direction)
        _check_int("n_startup_trials", self.n_startup_trials, 1)
        _check_int("n_warmup_steps", self.n_warmup_steps, 0)

    def should_prune(self, reports: Reports, trial_id: int, step: int) -> bool:
        own = [(s, v) for s, v in reports.get(trial_id, ()) if s <= step]
        if not own or step < self.n_warmup_steps:
            return False
        values = [v for _, v in own]
        if any(not math.isfinite(v) for v in values):
            return True
        best = min(values) if self.direction == "minimize" else max(values)
        others = [
            v
            for other_id, history in reports.items()
            if other_id != trial_id
            and (v := _value_at(history, step)) is not None
            and math.isfinite(v)
        ]
        if len(others) < self.n_startup_trials:
            return False
        return _is_better(statistics.median(others), best, self.direction)


@dataclass(frozen=True)
class ASHAPruner:
    """Asynchronous successive halving (Li et al., 2020, "A System for Massively Parallel
    Hyperparameter Tuning").

    Rungs sit at steps r·η^(s+k), k = 0, 1, ... (r = `min_resource`, η = `reduction_factor`,
    s = `min_early_stopping_rate`). A trial's value at rung k is the value of its first report
    at a step >= the rung's step. When a trial's report crosses a rung, it is promoted (goes
    on) iff its rung value is among the best max(1, ⌊n/η⌋) of the n values recorded at that
    rung so far (its own included); else it is pruned. The max(1, ...) promotes a trial that
    is the best so far even while fewer than η trials have reached the rung: without it, the
    first η-1 trials of every study would be pruned at the first rung. Ties are promoted.
    If one report crosses several rungs, each is decided in turn; reports between rungs never
    prune. A non-finite value at a rung is pruned.
    """

    direction: str = "minimize"
    min_resource: int = 1
    reduction_factor: int = 3
    min_early_stopping_rate: int = 0
    name: ClassVar[str] = "asha"
    reads_reports: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_direction(self.direction)
        _check_int("min_resource", self.min_resource, 1)
        _check_int("reduction_factor", self.reduction_factor, 2)
        _check_int("min_early_stopping_rate", self.min_early_stopping_rate, 0)

    def rung_step(self, rung: int) -> int:
        """The step at which rung `rung` (0, 1, ...) is reached."""
        exponent = self.min_early_stopping_rate + rung
        return self.min_resource * int(self.reduction_factor**exponent)

    def should_prune(self, reports: Reports, trial_id: int, step: int) -> bool:
        own = sorted(reports.get(trial_id, ()))
        previous_steps = [s for s, _ in own if s < step]
        previous = previous_steps[-1] if previous_steps else None
        current = _value_at(own, step)
        if current is None:
            return False
        rung = 0
        while (rung_step := self.rung_step(rung)) <= step:
            # Decide only the rungs this report crosses: earlier ones were decided before.
            crossed_now = previous is None or previous < rung_step
            if crossed_now and not self._promoted(reports, trial_id, current, rung_step):
                return True
            rung += 1
        return False

    def _promoted(self, reports: Reports, trial_id: int, value: float, rung_step: int) -> bool:
        if not math.isfinite(value):
            return False
        competing = [value]
        for other_id, history in reports.items():
            if other_id == trial_id:
                continue
            other = _rung_value(history, rung_step)
            if other is not None and math.isfinite(other):
                competing.append(other)
        n_promoted = max(1, len(competing) // self.reduction_factor)
        ranked = sorted(competing, reverse=self.direction == "maximize")
        threshold = ranked[n_promoted - 1]
        return not _is_better(threshold, value, self.direction)


def _rung_value(history: Sequence[tuple[int, float]], rung_step: int) -> float | None:
    """A trial's value at a rung: its first report at or after the rung's step."""
    reached = [(s, v) for s, v in history if s >= rung_step]
    return min(reached)[1] if reached else None


_REGISTRY: dict[str, type[NopPruner] | type[MedianPruner] | type[ASHAPruner]] = {
    cls.name: cls for cls in (NopPruner, MedianPruner, ASHAPruner)
}

PRUNER_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def make_pruner(name: str, options: Mapping[str, Any] | None, direction: str) -> Pruner:
    """Build a study's pruner from its spec (`pruner: {name: asha, options: {...}}`).

    Raises `UnknownPrunerError` for a name outside none | median | asha, and
    `ValidationError` for an unknown option or a value out of range, naming what is allowed.
    """
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UnknownPrunerError(
            f"unknown pruner {name!r}; choose one of: {', '.join(PRUNER_NAMES)}"
        )
    options = dict(options or {})
    allowed = sorted(f.name for f in fields(cls) if f.name != "direction")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValidationError(
            f"unknown option(s) {', '.join(unknown)} for pruner {name!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    return cls(direction=direction, **options)


def reports_answered(spec: Mapping[str, Any]) -> bool:
    """Whether this study's reports need an answer from the server: its pruner can stop a
    trial (`reads_reports`: the no-op pruner never looks at them, so never prunes). An
    unknown name answers True, the safe side (creation refuses one anyway)."""
    name = (spec.get("pruner") or {}).get("name", "none")
    cls = _REGISTRY.get(name)
    return cls is None or cls.reads_reports
