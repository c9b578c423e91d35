"""Parameter domains: `Float`, `Int` and `Categorical`, frozen and validated on construction.

Each domain knows how to map its values to and from the unit interval [0, 1] (the coordinate
samplers work in) and which values make up its grid.

Unit coordinate, per kind:

- continuous `Float`: linear in the value (or in its logarithm when `log=True`); low -> 0,
  high -> 1.
- discrete domains (`Int`, `Float` with `step`) with K levels: level k owns the bin
  [k/K, (k+1)/K) and is encoded at its centre (k + 0.5)/K, so a uniform draw in [0, 1] decodes
  to every level with the same probability. A log-scaled `Int` uses bins of equal width in
  log space over [low - 0.5, high + 0.5] instead.
- `Categorical` with n choices: choice i is encoded at (i + 0.5)/n; `int(u * n)` is its index.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

from hpo.errors import SearchSpaceError, ValidationError
from hpo.space._categorical import Categorical

ParamValue: TypeAlias = float | int | str | bool
"""One hyperparameter value: a float, an int, or a categorical choice (str, number or bool)."""

Params: TypeAlias = dict[str, ParamValue]
"""One configuration: parameter name -> value, in the order of the search space."""

FloatArray: TypeAlias = npt.NDArray[np.float64]

# Relative tolerance for "is this value on the step grid" and "does the step divide the range".
_STEP_RTOL = 1e-9


def _is_number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _tidy(x: float) -> float:
    """Drop float noise from step arithmetic: 0.1 * 3 -> 0.3, not 0.30000000000000004."""
    return float(f"{x:.12g}")


def _n_levels(low: float, high: float, step: float) -> int:
    """Number of values low, low + step, ..., high; raises if `step` does not divide the range."""
    span = (high - low) / step
    k = round(span)
    if abs(span - k) > _STEP_RTOL * max(1.0, span):
        raise SearchSpaceError(
            f"step {step:g} does not divide the range [{low:g}, {high:g}] "
            f"({span:.4g} steps): choose a step that divides high - low, "
            f"or set high to {_tidy(low + k * step):g}"
        )
    return k + 1


def _check_grid_spec(grid: tuple[Any, ...] | None, grid_points: int | None) -> None:
    if grid is not None and grid_points is not None:
        raise SearchSpaceError(
            "give either grid (explicit values) or grid_points (a count), not both"
        )
    if grid is not None:
        if len(grid) == 0:
            raise SearchSpaceError("grid is empty: list at least one value, or drop grid")
        if len(set(grid)) != len(grid):
            raise SearchSpaceError(f"grid {list(grid)} has duplicated values: list each value once")
    if grid_points is not None and (
        not isinstance(grid_points, int) or isinstance(grid_points, bool) or grid_points < 2
    ):
        raise SearchSpaceError(f"grid_points must be an integer >= 2, got {grid_points!r}")


@dataclass(frozen=True)
class _Numeric:
    """Shared maths of `Float` and `Int`: bounds, log scale, optional step, grid values."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    grid: tuple[Any, ...] | None = None
    grid_points: int | None = None

    kind: ClassVar[str] = "numeric"

    def _validate_numeric(self) -> None:
        if not _is_number(self.low) or not _is_number(self.high):
            raise SearchSpaceError(
                f"low and high must be numbers, got low={self.low!r}, high={self.high!r}"
            )
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise SearchSpaceError("low and high must be finite numbers")
        if self.low >= self.high:
            raise SearchSpaceError(
                f"low ({self.low:g}) must be < high ({self.high:g}): swap them, "
                "or use fixed: for a constant"
            )
        if not isinstance(self.log, bool):
            raise SearchSpaceError(f"log must be true or false, got {self.log!r}")
        if self.log and self.low <= 0:
            raise SearchSpaceError(
                f"log scale needs low > 0, got low={self.low:g}: raise low (e.g. 1e-6) or drop log"
            )
        if self.step is not None:
            if not _is_number(self.step) or not self.step > 0:
                raise SearchSpaceError(f"step must be a number > 0, got {self.step!r}")
            _n_levels(self.low, self.high, self.step)
        _check_grid_spec(self.grid, self.grid_points)

    # -- levels --------------------------------------------------------------------------
    @property
    def n_levels(self) -> int | None:
        """How many distinct values the domain has; None when it is continuous."""
        if self.step is None:
            return None
        return _n_levels(self.low, self.high, self.step)

    @property
    def is_discrete(self) -> bool:
        return self.step is not None

    def _t(self, x: FloatArray) -> FloatArray:
        return np.log(x) if self.log else x

    def _t_inv(self, t: FloatArray) -> FloatArray:
        return np.exp(t) if self.log else t

    def _t_bounds(self) -> tuple[float, float]:
        """Bounds of the unit coordinate's preimage: value (or log value) at u=0 and u=1."""
        if self.step is not None and not self.log:
            half = self.step / 2
            return self.low - half, self.high + half
        if self.step is not None:  # a log-scaled Int (step 1)
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        lo, hi = float(self.low), float(self.high)
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    # -- unit coordinate -----------------------------------------------------------------
    def to_unit_array(self, values: FloatArray) -> FloatArray:
        """Values -> unit coordinates (vectorized)."""
        a, b = self._t_bounds()
        if self.step is not None and not self.log:
            k = np.round((values - self.low) / self.step)
            n = _n_levels(self.low, self.high, self.step)
            return np.asarray((k + 0.5) / n, dtype=np.float64)
        return np.asarray((self._t(values) - a) / (b - a), dtype=np.float64)

    def from_unit_array(self, u: FloatArray) -> FloatArray:
        """Unit coordinates -> valid values (vectorized): clipped, rounded onto the step."""
        u = np.clip(u, 0.0, 1.0)
        if self.step is not None and not self.log:
            n = _n_levels(self.low, self.high, self.step)
            k = np.minimum(np.floor(u * n), n - 1)
            return np.asarray(self.low + k * self.step, dtype=np.float64)
        a, b = self._t_bounds()
        x = self._t_inv(a + u * (b - a))
        if self.step is not None:  # log-scaled Int
            x = np.round(x)
        return np.asarray(np.clip(x, self.low, self.high), dtype=np.float64)

    def snap_unit(self, u: FloatArray) -> FloatArray:
        """Move unit coordinates onto the encodings of valid values (identity if continuous)."""
        if self.step is None:
            return np.asarray(np.clip(u, 0.0, 1.0), dtype=np.float64)
        return self.to_unit_array(self.from_unit_array(u))

    def valid_array(self, x: FloatArray) -> npt.NDArray[np.bool_]:
        """`check`'s verdict on each value of a float array, vectorized (an int must also be
        integer-valued); the caller has checked the values are numbers, not bools."""
        ok = np.isfinite(x) & (x >= self.low) & (x <= self.high)
        if self.kind == "int":
            ok &= x == np.round(x)
        if self.step is not None:
            k = (x - self.low) / self.step
            ok &= np.abs(k - np.round(k)) <= 1e-6 * np.maximum(1.0, np.abs(k))
        return np.asarray(ok, dtype=np.bool_)

    def _on_step(self, x: float) -> bool:
        if self.step is None:
            return True
        k = (x - self.low) / self.step
        return abs(k - round(k)) <= 1e-6 * max(1.0, abs(k))

    def _grid_numbers(self, cap: int) -> list[float]:
        """Grid values as floats (before the subclass converts them)."""
        if self.grid is not None:
            return [float(v) for v in self.grid]
        if self.grid_points is not None:
            a, b = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
            t = np.linspace(a, b, self.grid_points)
            # Tidy and clip: exp(log(x)) may land one ulp outside [low, high].
            raw = np.clip([_tidy(v) for v in self._t_inv(t)], self.low, self.high)
            if self.step is not None:
                raw = self.from_unit_array(self.to_unit_array(raw))
            return list(dict.fromkeys(float(v) for v in raw))
        n = self.n_levels
        if n is None:
            raise SearchSpaceError(
                "a continuous float has no grid: add grid: [...] values, grid_points: k, "
                "or a step, or use another sampler"
            )
        if n > cap:
            raise SearchSpaceError(
                f"{n} values between {self.low:g} and {self.high:g} exceed the grid cap of "
                f"{cap}: add grid_points: k or grid: [...]"
            )
        return [float(self.low + k * (self.step or 1)) for k in range(n)]

    def grid_size(self) -> int | None:
        """Number of grid values (at most), computed without enumerating; None if no grid."""
        if self.grid is not None:
            return len(self.grid)
        if self.grid_points is not None:
            return self.grid_points  # an upper bound: rounding onto a step may merge values
        return self.n_levels

    def _common_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            d["log"] = True
        if self.step is not None:
            d["step"] = self.step
        if self.grid is not None:
            d["grid"] = list(self.grid)
        if self.grid_points is not None:
            d["grid_points"] = self.grid_points
        return d


@dataclass(frozen=True)
class Float(_Numeric):
    """A real parameter in [low, high]; `log=True` searches log space (needs low > 0);
    `step` restricts it to low, low + step, ..., high (the step must divide the range; log and
    step cannot be combined). `grid` (explicit values) or `grid_points` (k values evenly spaced,
    in log space if `log`) give the values the grid sampler visits; other samplers ignore them.

    >>> Float(1e-5, 1e-1, log=True)
    """

    kind: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        if self.grid is not None and not isinstance(self.grid, tuple):
            object.__setattr__(self, "grid", tuple(self.grid))
        for field in ("low", "high"):
            if _is_number(getattr(self, field)):
                object.__setattr__(self, field, float(getattr(self, field)))
        self._validate_numeric()
        if self.log and self.step is not None:
            raise SearchSpaceError(
                "log and step cannot be combined on a float: drop step, or drop log"
            )
        for v in self.grid or ():
            if not _is_number(v) or not self.low <= v <= self.high or not self._on_step(v):
                raise SearchSpaceError(
                    f"grid value {v!r} is not a value of this float in [{self.low:g}, "
                    f"{self.high:g}]" + (f" with step {self.step:g}" if self.step else "")
                )

    def check(self, value: object) -> float:
        """Return `value` as a float if it belongs to the domain, else raise ValidationError."""
        if not _is_number(value):
            raise ValidationError(f"expected a number, got {value!r}")
        x = float(value)  # type: ignore[arg-type]
        if not (math.isfinite(x) and self.low <= x <= self.high):
            raise ValidationError(f"{x!r} is outside [{self.low:g}, {self.high:g}]")
        if not self._on_step(x):
            raise ValidationError(f"{x!r} is not on the step {self.step:g} from {self.low:g}")
        return x

    def from_unit(self, u: float) -> float:
        x = float(self.from_unit_array(np.array([u], dtype=np.float64))[0])
        return _tidy(x) if self.step is not None else x

    def to_unit(self, value: ParamValue) -> float:
        return float(self.to_unit_array(np.array([float(value)], dtype=np.float64))[0])

    def grid_values(self, cap: int = 100_000) -> tuple[float, ...]:
        """The values the grid sampler visits (raises if the float is continuous and gridless)."""
        return tuple(_tidy(v) if self.step is not None else v for v in self._grid_numbers(cap))

    def to_dict(self) -> dict[str, Any]:
        return self._common_dict()


@dataclass(frozen=True)
class Int(_Numeric):
    """An integer parameter in [low, high] (both included); `log=True` searches log space
    (needs low >= 1); `step` (default 1) must divide the range and cannot exceed 1 with log.
    `grid` / `grid_points` as for `Float`; without them the grid is every value in range.

    >>> Int(16, 512, log=True)
    """

    step: float | None = 1
    kind: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        for field in ("low", "high", "step"):
            v = getattr(self, field)
            if field == "step" and v is None:
                object.__setattr__(self, "step", 1)
                continue
            if not _is_number(v) or (isinstance(v, float) and not v.is_integer()):
                raise SearchSpaceError(f"{field} of an int must be an integer, got {v!r}")
            object.__setattr__(self, field, int(v))
        if self.grid is not None and not isinstance(self.grid, tuple):
            object.__setattr__(self, "grid", tuple(self.grid))
        self._validate_numeric()
        if self.log and self.step != 1:
            raise SearchSpaceError(
                f"log and step {self.step} cannot be combined on an int: drop step, or drop log"
            )
        for v in self.grid or ():
            if (
                not _is_number(v)
                or not float(v).is_integer()
                or not self.low <= v <= self.high
                or not self._on_step(v)
            ):
                raise SearchSpaceError(
                    f"grid value {v!r} is not an integer of this int in [{self.low}, {self.high}]"
                    + (f" with step {self.step}" if self.step != 1 else "")
                )
        if self.grid is not None:
            object.__setattr__(self, "grid", tuple(int(v) for v in self.grid))

    def check(self, value: object) -> int:
        """Return `value` as an int if it belongs to the domain, else raise ValidationError."""
        if not _is_number(value) or not float(value).is_integer():  # type: ignore[arg-type]
            raise ValidationError(f"expected an integer, got {value!r}")
        x: int = int(value)  # type: ignore[call-overload]
        if not self.low <= x <= self.high:
            raise ValidationError(f"{x} is outside [{self.low}, {self.high}]")
        if not self._on_step(x):
            raise ValidationError(f"{x} is not on the step {self.step} from {self.low}")
        return x

    def from_unit(self, u: float) -> int:
        return round(float(self.from_unit_array(np.array([u], dtype=np.float64))[0]))

    def to_unit(self, value: ParamValue) -> float:
        return float(self.to_unit_array(np.array([float(value)], dtype=np.float64))[0])

    def grid_values(self, cap: int = 100_000) -> tuple[int, ...]:
        """The values the grid sampler visits: `grid`, `grid_points`, or every value in range."""
        return tuple(dict.fromkeys(round(v) for v in self._grid_numbers(cap)))

    def to_dict(self) -> dict[str, Any]:
        d = self._common_dict()
        if d.get("step") == 1:
            del d["step"]
        return d


Param: TypeAlias = Float | Int | Categorical
"""Any parameter domain."""
