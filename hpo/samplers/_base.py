"""The sampler protocol shared by every search algorithm, ours and Optuna's.

Lifecycle (as Vizier's Designer): the service rebuilds a sampler from the study's history for
every ask, so a sampler is a function of (space, direction, seed, options, history)::

    sampler = factory(space, direction="maximize", seed=0, options={})   # no I/O
    sampler.tell(completed, pending)      # the WHOLE history, every time
    configs = sampler.ask(n)              # n distinct suggestions

- `completed`: every finished trial in evaluation order, as `Observation`s: params, value, and a
  state (completed, failed, diverged, pruned). Failed and diverged ones carry no usable value;
  every sampler must accept them (e.g. as a bad value) and never crash on them.
- `pending`: configurations handed out and still running. Suggestions must differ from them
  and from each other (where the space has room), so parallel workers do not duplicate work.
- `tell` may be called again on the same object with a longer history (`hpo.optimize` does so
  after each trial, the service's per-study sampler cache on each claim); it replaces the
  previous history. Samplers may cache work across tells when the new history extends the old
  one, but must give the same suggestions as a freshly built sampler told the same history.
  `BaseSampler` does so itself: when the history extends the previous one it validates and
  encodes only the new observations (a tell then costs O(new), plus an identity check of the
  prefix), and `self._extended` tells subclasses that it did. `BaseSampler.extend(new,
  pending)` is that tell without passing the history again: the `IncrementalSampler`
  protocol (`hpo.samplers._feed`), which `SamplerFeed` uses for the service's sampler cache
  and `hpo.optimize` alike.
- What a sampler keeps of its history between tells is its own choice (`BaseSampler`'s
  `keep_observations`, `keep_arrays`, `keep_keys`): samplers that ignore the values keep
  nothing per observation (or a hash per taken configuration in a finite space), model-based
  ones numpy rows; only those that need the `Observation` objects keep them.
- Seeded: the same seed and history give the same suggestions. `BaseSampler.rng()` derives a
  generator from (seed, history length, pending count, asks since the last tell) for that.
- `ask(n)` may return fewer than n configurations (or none) only when the sampler is exhausted
  (the grid sampler after the last point); callers then stop.

The smallest complete example is `hpo.samplers._random.RandomSampler`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeAlias, runtime_checkable

import numpy as np

from hpo.errors import ValidationError
from hpo.space import Params, SearchSpace
from hpo.space._params import FloatArray
from hpo.states import DIRECTIONS, DirectionLike

# The one definition is `hpo.states`; a sampler takes the enum or its value as text.
Direction: TypeAlias = DirectionLike


class ObservationState(StrEnum):
    """How a finished trial ended, as far as a sampler cares."""

    COMPLETED = "completed"  # value is the objective
    FAILED = "failed"  # crashed / bad config: no value
    DIVERGED = "diverged"  # NaN/inf loss: no usable value, a bad region
    PRUNED = "pruned"  # stopped early: value, if any, is the last intermediate value


@dataclass(frozen=True)
class Observation:
    """One finished trial: its configuration, its value and how it ended.

    A COMPLETED observation must have a finite value; for the others `value` may be None (a
    PRUNED one may keep its last intermediate value).

    Several objectives: `values` holds one value per objective (each in its own direction;
    `value` is the first), for the samplers built with `directions`. Constraints:
    `violations` holds, per constraint, how far the trial's metric lies past its bound (> 0:
    broken); a trial with a positive one is infeasible (`feasible`). Samplers that support
    constraints learn from the violations (Optuna's `constraints_func`); the others treat an
    infeasible trial like a failed one (the worst feasible value so far: `losses`).
    """

    params: Params
    value: float | None = None
    state: ObservationState = ObservationState.COMPLETED
    values: tuple[float, ...] | None = None
    violations: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.state, ObservationState):
            try:
                object.__setattr__(self, "state", ObservationState(self.state))
            except ValueError as e:
                valid = ", ".join(s.value for s in ObservationState)
                raise ValidationError(f"unknown state {self.state!r}: use one of {valid}") from e
        if self.state is ObservationState.COMPLETED and not _finite(self.value):
            raise ValidationError(
                f"a completed observation needs a finite value, got {self.value!r}: "
                "record it as failed or diverged instead"
            )
        if self.values is not None:
            object.__setattr__(self, "values", tuple(self.values))
            if self.state is ObservationState.COMPLETED and not all(
                _finite(v) for v in self.values
            ):
                raise ValidationError(
                    f"a completed observation needs finite values, got {self.values!r}"
                )
        if self.violations:
            object.__setattr__(self, "violations", tuple(float(v) for v in self.violations))

    @property
    def feasible(self) -> bool:
        """False when a constraint is broken (a positive violation)."""
        return all(v <= 0 for v in self.violations)

    def objective_values(self, k: int) -> tuple[float, ...] | None:
        """The k objective values when usable (`values`, or `value` alone when k is 1)."""
        if not self.has_value:
            return None
        if self.values is not None and len(self.values) == k:
            return self.values
        return (float(self.value),) if k == 1 else None  # type: ignore[arg-type]

    @property
    def has_value(self) -> bool:
        """True when `value` is a usable objective value (completed, or pruned with a value)."""
        return self.state in (ObservationState.COMPLETED, ObservationState.PRUNED) and _finite(
            self.value
        )


def _finite(x: float | None) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@runtime_checkable
class Sampler(Protocol):
    """What the service and `hpo.optimize` call. See the module docstring for the lifecycle."""

    def tell(self, completed: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        """Replace the sampler's history with `completed` (all finished trials, in evaluation
        order) and `pending` (configurations still running)."""
        ...

    def ask(self, n: int = 1) -> list[Params]:
        """Up to n new configurations, distinct from each other and from the pending ones."""
        ...


class SamplerFactory(Protocol):
    """Builds a sampler; a sampler class is its own factory."""

    def __call__(
        self,
        space: SearchSpace,
        *,
        direction: Direction = "minimize",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
    ) -> Sampler: ...


def losses(completed: Sequence[Observation], direction: Direction) -> tuple[FloatArray, Any]:
    """Values to minimize, one per observation, and a boolean mask of the real ones.

    Maximized values are negated. Observations without a usable value (failed, diverged,
    pruned without value) get the worst real loss seen (NaN if there is none yet); the mask
    is False for them. Returns (losses, mask) as numpy arrays of shape (n,).
    """
    return _impute_failures(*_signed_losses(completed, direction))


def _signed_losses(
    completed: Sequence[Observation], direction: Direction
) -> tuple[FloatArray, Any]:
    """Values to minimize (NaN where there is no usable value) and the real-value mask."""
    sign = -1.0 if direction == "maximize" else 1.0
    mask = np.array([o.has_value for o in completed], dtype=bool)
    y = np.array(
        [sign * float(o.value) if ok else np.nan for o, ok in zip(completed, mask, strict=True)],  # type: ignore[arg-type]
        dtype=np.float64,
    )
    return y, mask


def _impute_failures(y: FloatArray, mask: Any) -> tuple[FloatArray, Any]:
    """A copy of y with the entries outside `mask` set to the worst real loss (NaN if none)."""
    y = y.copy()
    if mask.any() and not mask.all():
        y[~mask] = float(np.max(y[mask]))
    return y, mask.copy()


def params_key(params: Mapping[str, object]) -> tuple[tuple[bool, object], ...]:
    """A cheap hashable identity for a decoded configuration (True and 1 stay distinct).
    For a stable, storable identity use `SearchSpace.params_hash`."""
    return tuple((isinstance(v, bool), v) for v in params.values())


def taken_key(params: Mapping[str, object]) -> int:
    """The compact key of a configuration in `taken_keys` sets: the hash of its `params_key`
    (one int instead of a tuple of tuples). Equal configurations have equal keys; two
    different ones share a key with probability ~2^-64, and then the second one is only
    treated as already taken (never a repeat). Valid within one process (str hashes are
    salted per process), like the sets that hold them."""
    return hash(params_key(params))


class BaseSampler(ABC):
    """Convenience base: stores the arguments, validates direction and options, keeps the
    history, derives the per-ask RNG and encodes the history to the unit cube on demand.

    Subclasses set `options_defaults` (every accepted option with its default) and implement
    `_ask(n, rng)`. They may override `_told(new, fresh)` to fold new observations into state
    of their own, and say what of the history they need kept (memory per observation):

    - `keep_observations`: the `Observation` objects, as `self.completed` (Optuna's samplers
      rebuild their studies from them). Without it `self.completed` stays empty; the count
      is `self.n_completed` either way, and a `tell` rebuilds what is kept (no prefix check).
    - `keep_arrays`: the unit-cube rows and losses (`self.X`, `self.losses()`), float64.
    - `keep_keys`: the completed configurations in `taken_keys`, as `taken_key` hashes. Without
      the observations they are kept only when the space is finite (no continuous
      parameter): a continuous draw never repeats a completed configuration by chance.
    """

    options_defaults: ClassVar[Mapping[str, Any]] = {}
    # True: built with several `directions`, it optimizes them all (the registry refuses a
    # multi-objective study for any other sampler, naming those that can).
    multi_objective: ClassVar[bool] = False
    keep_observations: ClassVar[bool] = True
    keep_arrays: ClassVar[bool] = True
    keep_keys: ClassVar[bool] = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        direction: Direction = "minimize",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        directions: Sequence[Direction] | None = None,
        n_constraints: int = 0,
    ) -> None:
        if direction not in DIRECTIONS:
            raise ValidationError(f"direction must be minimize or maximize, got {direction!r}")
        self.directions: tuple[Direction, ...] = tuple(directions or (direction,))
        if any(d not in DIRECTIONS for d in self.directions):
            raise ValidationError(f"directions must be minimize or maximize, got {directions!r}")
        if len(self.directions) > 1 and not self.multi_objective:
            raise ValidationError(f"{type(self).__name__} cannot optimize several objectives")
        direction = self.directions[0]
        self.n_constraints = int(n_constraints)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValidationError(f"seed must be an integer, got {seed!r}")
        unknown = sorted(set(options or {}) - set(self.options_defaults))
        if unknown:
            valid = ", ".join(sorted(self.options_defaults)) or "none"
            raise ValidationError(
                f"unknown option(s) {', '.join(unknown)} for {type(self).__name__}: "
                f"valid options are {valid}"
            )
        self.space = space
        self.direction: Direction = direction
        self.seed = seed
        self.options: dict[str, Any] = {**self.options_defaults, **(options or {})}
        self.completed: list[Observation] = []
        self.n_completed = 0
        self.pending: tuple[Params, ...] = ()
        self._asks_since_tell = 0
        self._extended = False
        self._finite = not space.continuous_dims
        # Per-observation work kept across tells and extended when the history grows, so a
        # tell costs what the new observations cost: their unit-cube rows, their losses.
        self._encoded: FloatArray = np.zeros((0, space.dim), dtype=np.float64)
        self._signed: FloatArray = np.zeros(0)  # losses to minimize, NaN where no value
        self._valued: Any = np.zeros(0, dtype=bool)  # has_value of each observation
        self._feasible: Any = np.zeros(0, dtype=bool)  # no constraint broken
        # Several objectives: losses per objective (n, k), NaN where no value.
        self._vectors: FloatArray = np.zeros((0, len(self.directions)))
        # taken_key of each completed configuration. With the observations kept: built on the
        # first `taken_keys` call (LIPO never makes one; a fresh tell of 1000 observations
        # saves ~1 ms), then extended; without them, kept from the start (see `keep_keys`).
        self._completed_keys: set[int] | None = self._initial_keys()

    def _initial_keys(self) -> set[int] | None:
        if self.keep_keys and not self.keep_observations and self._finite:
            return set()
        return None

    def tell(self, completed: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        completed = list(completed)
        n_old = len(self.completed)
        # Does the new history extend the previous one? Subclasses may then reuse their work.
        prefix = zip(self.completed, completed[:n_old], strict=True)
        self._extended = (
            self.keep_observations
            and n_old <= len(completed)
            and all(a is b or a == b for a, b in prefix)
        )
        if self._extended:
            self._fold(completed[n_old:], fresh=False)
        else:
            self.completed, self.n_completed = [], 0
            self._encoded = np.zeros((0, self.space.dim), dtype=np.float64)
            self._signed, self._valued = np.zeros(0), np.zeros(0, dtype=bool)
            self._feasible = np.zeros(0, dtype=bool)
            self._vectors = np.zeros((0, len(self.directions)))
            self._completed_keys = self._initial_keys()
            self._fold(completed, fresh=True)
        self.pending = tuple(pending)
        self._asks_since_tell = 0

    def extend(self, new: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        """`tell(history + new, pending)`, where history is everything told so far, without
        passing it again: O(new), and no need for the caller to keep the history."""
        self._extended = True
        self._fold(list(new), fresh=False)
        self.pending = tuple(pending)
        self._asks_since_tell = 0

    def _fold(self, new: list[Observation], *, fresh: bool) -> None:
        self.n_completed += len(new)
        if self.keep_observations:
            self.completed.extend(new)
        if new and self.keep_arrays:
            signed, valued = _signed_losses(new, self.direction)
            self._encoded = np.concatenate(
                [self._encoded, self.space.encode_many([o.params for o in new])]
            )
            self._signed = np.concatenate([self._signed, signed])
            self._valued = np.concatenate([self._valued, valued])
            feasible = np.array([o.feasible for o in new], dtype=bool)
            self._feasible = np.concatenate([self._feasible, feasible])
            if len(self.directions) > 1:
                self._vectors = np.concatenate([self._vectors, self._loss_rows(new)])
        if new and self._completed_keys is not None:
            self._completed_keys.update(taken_key(o.params) for o in new)
        self._told(new, fresh)

    def _told(self, new: Sequence[Observation], fresh: bool) -> None:
        """Called by every `tell` and `extend` with the observations it added (all of them
        when `fresh`: the history started over). For subclasses' own per-history state."""
        return None

    def ask(self, n: int = 1) -> list[Params]:
        if not isinstance(n, int) or n < 1:
            raise ValidationError(f"ask needs n >= 1, got {n!r}")
        rng = self.rng()
        self._asks_since_tell += 1
        return self._ask(n, rng)

    @abstractmethod
    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        """Return up to n distinct configurations; `rng` is this ask's seeded generator."""

    # -- helpers for subclasses ----------------------------------------------------------
    def rng(self) -> np.random.Generator:
        """This ask's generator: a function of seed, history length, pending count and the
        number of asks since the last tell, so a rebuilt sampler repeats itself exactly."""
        return np.random.default_rng(self.derived_seed())

    def derived_seed(self) -> int:
        """A 32-bit seed for this ask (for libraries that take an int seed)."""
        ss = np.random.SeedSequence(
            [self.seed % 2**63, self.n_completed, len(self.pending), self._asks_since_tell]
        )
        return int(ss.generate_state(1)[0])

    @property
    def X(self) -> FloatArray:
        """The completed observations' configurations in the unit cube, shape (n, dim)
        (empty unless `keep_arrays`)."""
        return self._encoded

    @property
    def n_kept(self) -> int:
        """How many observations this sampler keeps something for between tells (0 when it
        keeps nothing per observation): what the service's sampler cache bound counts."""
        kept = self.keep_observations or self.keep_arrays or self._completed_keys is not None
        return self.n_completed if kept else 0

    def losses(self) -> tuple[FloatArray, Any]:
        """`losses(self.completed, self.direction)`: values to minimize and the real-value mask
        (fresh arrays, from the per-observation values kept across tells). An infeasible
        observation counts as one without a real value (the worst feasible loss)."""
        return _impute_failures(self._signed, self._valued & self._feasible)

    def loss_vectors(self) -> tuple[FloatArray, Any]:
        """Several objectives: losses (n, k), every objective to minimize, and the mask of the
        feasible observations with values; the others get each column's worst real loss."""
        y = self._vectors.copy()
        mask = self._valued & self._feasible & np.all(np.isfinite(y), axis=1)
        if mask.any() and not mask.all():
            y[~mask] = np.max(y[mask], axis=0)
        return y, mask

    def _loss_rows(self, new: Sequence[Observation]) -> FloatArray:
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        k = len(self.directions)
        rows = np.full((len(new), k), np.nan)
        for i, o in enumerate(new):
            vals = o.objective_values(k)
            if vals is not None:
                rows[i] = np.asarray(vals, dtype=np.float64) * signs
        return rows

    def taken_keys(self, *, include_completed: bool = True) -> set[int]:
        """`taken_key`s of the pending configurations (and of the completed ones, where they
        are kept: see `keep_keys`)."""
        keys = {taken_key(p) for p in self.pending}
        if include_completed:
            if self._completed_keys is None and self.keep_observations and self.keep_keys:
                self._completed_keys = {taken_key(o.params) for o in self.completed}
            if self._completed_keys is not None:
                keys.update(self._completed_keys)  # kept across tells: a set copy, not n keys
        return keys

    def fill_distinct(
        self,
        n: int,
        propose: Callable[[], Params],
        exclude: set[int],
        *,
        max_tries: int = 100,
    ) -> list[Params]:
        """Call `propose()` until n configurations that are new (not in `exclude`, not
        repeated) are found; past `max_tries * n` calls the space is nearly exhausted and
        repeats are accepted. `exclude` is updated with what is returned."""
        out: list[Params] = []
        tries = 0
        while len(out) < n:
            p = propose()
            key = taken_key(p)
            tries += 1
            if key in exclude and tries < max_tries * n:
                continue
            exclude.add(key)
            out.append(p)
        return out


SamplerClass: TypeAlias = Callable[..., Sampler]
