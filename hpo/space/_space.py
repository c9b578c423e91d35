"""`SearchSpace`: an ordered, immutable mapping from parameter name to domain.

It is the one place that turns configurations (dicts) into unit-cube vectors and back, so every
sampler agrees on what a point means. See `hpo.space._params` for the per-kind encoding.

Conditional parameters (`when`, hpo/space/_conditions.py): the cube keeps one coordinate per
parameter, active or not; `decode` drops the coordinates of inactive parameters, `encode`
puts an inactive parameter at the centre 0.5 (a placeholder no sampler should read as a value:
`active_mask` says which coordinates mean something), and the grid enumerates only the
active combinations.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from hpo.errors import SearchSpaceError, ValidationError
from hpo.space._categorical import Categorical
from hpo.space._conditions import (
    Condition,
    active_in_unit,
    check_conditions,
    is_active,
    order_by_parents,
)
from hpo.space._params import FloatArray, Param, Params, ParamValue
from hpo.space._parsing import conditions_from_dict, params_from_dict

INACTIVE_UNIT = 0.5
"""The unit coordinate `encode` gives an inactive parameter (a placeholder, not a value)."""

DEFAULT_GRID_CAP = 100_000
"""Largest grid `grid_axes` enumerates unless the caller passes another cap."""


class SearchSpace(Mapping[str, Param]):
    """An ordered mapping name -> `Float` | `Int` | `Categorical`; immutable and hashable.

    Build it from domains, or from the YAML/JSON format with `SearchSpace.from_dict`::

        space = SearchSpace({"lr": Float(1e-5, 1e-1, log=True), "depth": Int(1, 4)})
        space = SearchSpace.from_dict({"lr": {"type": "float", "low": 1e-5, "high": 0.1,
                                              "log": True}})

    Unit cube. `encode(params)` gives a vector u in [0, 1]^dim, one coordinate per parameter in
    order; `decode(u)` gives back a valid configuration for *any* u (clipped, rounded onto
    integers/steps, binned onto choices), so a sampler may propose any point of the cube.
    Categorical coordinates hold the choice at its bin centre; `categorical_indices(U)` gives
    the choice indices for a mismatch (Hamming) term, and `categorical_dims` says which
    coordinates they are. `snap(U)` moves a batch of points onto valid encodings (vectorized).

    Conditions. `conditions` maps a parameter to its `Condition` (parent and values): the
    parameter is active only when its parent is active and takes one of the values, and is
    absent from configurations otherwise (see the module docstring for the encoding).
    """

    __slots__ = ("_conditions", "_hash", "_order", "_params")

    def __init__(
        self, params: Mapping[str, Param], conditions: Mapping[str, Condition] | None = None
    ) -> None:
        if len(params) == 0:
            raise SearchSpaceError("the search space is empty: give at least one parameter")
        for name, domain in params.items():
            if not isinstance(name, str) or not name:
                raise SearchSpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if not hasattr(domain, "kind") or domain.kind not in ("float", "int", "categorical"):
                raise SearchSpaceError(
                    f"parameter {name!r}: {domain!r} is not a Float, Int or Categorical"
                )
        conds = dict(conditions or {})
        check_conditions(params, conds)
        self._params: Mapping[str, Param] = MappingProxyType(dict(params))
        # Space order, as given (conditions are unordered: listing them in space order keeps
        # equality and the hash independent of how they were passed).
        self._conditions: Mapping[str, Condition] = MappingProxyType(
            {n: conds[n] for n in self._params if n in conds}
        )
        self._order = order_by_parents(self._params, self._conditions)
        self._hash = hash((tuple(self._params.items()), tuple(self._conditions.items())))

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> SearchSpace:
        """Build from the YAML/JSON format: `{name: {type: float|int|categorical, ...}}`, each
        parameter with an optional `when: {parent: [values]}`."""
        params = params_from_dict(mapping)
        return cls(params, conditions_from_dict(mapping))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The YAML/JSON form; `SearchSpace.from_dict(space.to_dict()) == space`."""
        out = {name: p.to_dict() for name, p in self._params.items()}
        for name, cond in self._conditions.items():
            out[name]["when"] = cond.to_dict()
        return out

    # -- conditions ------------------------------------------------------------------------
    @property
    def conditions(self) -> Mapping[str, Condition]:
        """Parameter -> its `Condition`, for the conditional parameters only."""
        return self._conditions

    @property
    def is_conditional(self) -> bool:
        return bool(self._conditions)

    @property
    def parent_order(self) -> tuple[str, ...]:
        """The names with every parent before its children (what define-by-run samplers
        suggest in)."""
        return self._order

    def is_active(self, name: str, params: Mapping[str, object]) -> bool:
        """Whether `name` is active given the (parent) values in `params`."""
        return is_active(name, params, self._conditions)

    def prune(self, params: Mapping[str, Any]) -> Params:
        """`params` without the parameters that are inactive in it (space order kept)."""
        if not self._conditions:
            return dict(params)
        return {
            n: params[n]
            for n in self._params
            if n in params and is_active(n, params, self._conditions)
        }

    def active_mask(self, U: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which coordinates are active at each point of the cube: shape (n, dim), all True
        in a space without conditions."""
        flat = np.asarray(U, dtype=np.float64).reshape(-1, self.dim)
        if not self._conditions:
            return np.ones(flat.shape, dtype=bool)
        return active_in_unit(self._params, self._conditions, self._order, flat)

    def flattened(self) -> SearchSpace:
        """The same parameters without conditions: every parameter always sampled."""
        return SearchSpace(self._params)

    # -- Mapping ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return list(self._params.items()) == list(other._params.items()) and dict(
            self._conditions
        ) == dict(other._conditions)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if self._conditions:
            return f"SearchSpace({dict(self._params)!r}, {dict(self._conditions)!r})"
        return f"SearchSpace({dict(self._params)!r})"

    def __reduce__(self) -> tuple[Any, tuple[dict[str, dict[str, Any]]]]:
        # Pickled as its dict form (the mapping proxies inside do not pickle): what a sampler
        # process is sent to build a study's sampler (hpo.samplers._process).
        return (SearchSpace.from_dict, (self.to_dict(),))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_hash"):
            raise AttributeError("SearchSpace is immutable")
        object.__setattr__(self, name, value)

    # -- shape -----------------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._params)

    @property
    def dim(self) -> int:
        """Number of unit-cube coordinates (one per parameter)."""
        return len(self._params)

    @property
    def categorical_dims(self) -> tuple[int, ...]:
        """Coordinates that hold a categorical parameter (unordered: compare by index)."""
        return tuple(i for i, p in enumerate(self._params.values()) if p.kind == "categorical")

    @property
    def discrete_dims(self) -> tuple[int, ...]:
        """Coordinates of ints and stepped floats (ordered but rounded on decode)."""
        return tuple(
            i
            for i, p in enumerate(self._params.values())
            if p.kind != "categorical" and p.is_discrete
        )

    @property
    def continuous_dims(self) -> tuple[int, ...]:
        return tuple(
            i
            for i, p in enumerate(self._params.values())
            if p.kind != "categorical" and not p.is_discrete
        )

    @property
    def n_levels(self) -> tuple[int | None, ...]:
        """Per coordinate: the number of distinct values (choices for categoricals), or None."""
        return tuple(p.n_levels for p in self._params.values())

    @property
    def size(self) -> float:
        """Number of distinct configurations; `math.inf` when any active parameter can be
        continuous (an upper bound with conditions: the product over every parameter)."""
        total = 1.0
        for n in self.n_levels:
            if n is None:
                return math.inf
            total *= n
        return total

    # -- validation and identity -----------------------------------------------------------
    def validate(self, params: Mapping[str, object]) -> Params:
        """Check that `params` is a configuration of this space and return it normalized
        (space order; ints as int, floats as float, choices as listed). Raises ValidationError
        naming every missing, unknown or out-of-domain parameter, and every conditional one
        present while inactive (it must be absent)."""
        problems: list[str] = []
        active = [n for n in self._params if is_active(n, params, self._conditions)]
        missing = [n for n in active if n not in params]
        unknown = [n for n in params if n not in self._params]
        inactive = [n for n in params if n in self._params and n not in active]
        if missing:
            problems.append(f"missing {', '.join(map(repr, missing))}")
        if unknown:
            problems.append(
                f"unknown {', '.join(map(repr, unknown))} (the space has {', '.join(self._params)})"
            )
        for name in inactive:
            cond = self._conditions[name]
            problems.append(
                f"{name!r} is inactive here (it needs {cond.parent} in {list(cond.values)}): "
                "leave it out"
            )
        out: Params = {}
        for name, domain in self._params.items():
            if name in params and name not in inactive:
                try:
                    out[name] = domain.check(params[name])
                except ValidationError as e:
                    problems.append(f"{name!r}: {e}")
        if problems:
            raise ValidationError("invalid parameters: " + "; ".join(problems))
        return out

    def contains(self, params: Mapping[str, object]) -> bool:
        """True when `params` is a valid configuration of this space (see `validate`)."""
        try:
            self.validate(params)
        except ValidationError:
            return False
        return True

    def params_hash(self, params: Mapping[str, object]) -> str:
        """A stable hex digest of a configuration, for deduplication (same config -> same hash,
        whatever the key order or int/float spelling of a float value). Validates first."""
        normalized = self.validate(params)
        text = json.dumps(normalized, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    # -- unit cube -------------------------------------------------------------------------
    def encode(self, params: Mapping[str, object]) -> FloatArray:
        """Configuration -> vector in [0, 1]^dim (validated first; an inactive parameter at
        `INACTIVE_UNIT`)."""
        p = self.validate(params)
        return np.array(
            [d.to_unit(p[n]) if n in p else INACTIVE_UNIT for n, d in self._params.items()],
            dtype=np.float64,
        )

    def encode_many(
        self, configs: Sequence[Mapping[str, object]], *, validate: bool = True
    ) -> FloatArray:
        """Configurations -> array of shape (len(configs), dim), one column at a time.
        `validate=False` skips the checks for configurations known to be valid (e.g. ones
        this space decoded), which makes encoding a long history cheap."""
        if validate:
            checked = self._encode_checked_by_column(configs)
            if checked is not None:
                return checked
            configs = [self.validate(c) for c in configs]
        out = np.zeros((len(configs), self.dim), dtype=np.float64)
        if not configs:
            return out
        for i, (name, d) in enumerate(self._params.items()):
            if name in self._conditions:
                out[:, i] = [d.to_unit(c[name]) if name in c else INACTIVE_UNIT for c in configs]  # type: ignore[arg-type]
            elif isinstance(d, Categorical):
                out[:, i] = [(d.index(c[name]) + 0.5) / d.n_levels for c in configs]
            else:
                col = np.array([float(c[name]) for c in configs], dtype=np.float64)  # type: ignore[arg-type]
                out[:, i] = d.to_unit_array(col)
        return out

    def _encode_checked_by_column(
        self, configs: Sequence[Mapping[str, object]]
    ) -> FloatArray | None:
        """`encode_many` with `validate`'s checks done a column at a time, for a space without
        conditions; None when any configuration fails one (or is not plainly typed), and the
        per-configuration path then raises, naming it. A fresh LIPO told 1 000 results and
        asked once takes 18 ms CPU this way, 25 ms one by one (bench/lipo_latency.py)."""
        if self._conditions or not configs:
            return None
        names = self._params.keys()
        if any(c.keys() != names for c in configs):
            return None
        out = np.empty((len(configs), self.dim), dtype=np.float64)
        for i, (name, d) in enumerate(self._params.items()):
            column = [c[name] for c in configs]
            if isinstance(d, Categorical):
                try:
                    out[:, i] = [(d.index(v) + 0.5) / d.n_levels for v in column]
                except ValidationError:
                    return None
                continue
            # Exactly int or float: bools, strings and numpy scalars take the full path.
            if not all(type(v) is float or type(v) is int for v in column):
                return None
            x = np.array(column, dtype=np.float64)
            if not d.valid_array(x).all():
                return None
            out[:, i] = d.to_unit_array(x)
        return out

    def decode(self, u: npt.ArrayLike) -> Params:
        """Any vector of length dim -> a valid configuration (clipped, rounded, binned; the
        parameters inactive at it left out)."""
        vec = np.asarray(u, dtype=np.float64).reshape(-1)
        if vec.shape[0] != self.dim:
            raise ValueError(f"expected a vector of length {self.dim}, got {vec.shape[0]}")
        full = {n: d.from_unit(float(vec[i])) for i, (n, d) in enumerate(self._params.items())}
        return self.prune(full) if self._conditions else full

    def decode_many(self, U: npt.ArrayLike) -> list[Params]:
        arr = np.asarray(U, dtype=np.float64).reshape(-1, self.dim)
        return [self.decode(row) for row in arr]

    def snap(self, U: npt.ArrayLike) -> FloatArray:
        """Move points (shape (n, dim) or (dim,)) onto the encodings of valid configurations:
        clip to [0, 1], round ints/steps, put categoricals at their bin centres. Vectorized;
        `snap(U)` equals `encode_many(decode_many(U))` up to float rounding."""
        arr = np.array(U, dtype=np.float64)
        flat = arr.reshape(-1, self.dim)
        for i, d in enumerate(self._params.values()):
            flat[:, i] = d.snap_unit(flat[:, i])
        return flat.reshape(arr.shape)

    def categorical_indices(self, U: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Choice indices of the categorical coordinates: shape (n, len(categorical_dims))."""
        flat = np.asarray(U, dtype=np.float64).reshape(-1, self.dim)
        cols = [
            d.index_array(flat[:, i])
            for i, d in enumerate(self._params.values())
            if isinstance(d, Categorical)
        ]
        if not cols:
            return np.zeros((flat.shape[0], 0), dtype=np.int64)
        return np.stack(cols, axis=1)

    def sample(self, rng: np.random.Generator, n: int = 1) -> list[Params]:
        """n configurations drawn uniformly from the unit cube (log params: log-uniform)."""
        return self.decode_many(rng.random((n, self.dim)))

    # -- grid ------------------------------------------------------------------------------
    def grid_size(self) -> int:
        """Number of grid points (an upper bound where `grid_points` rounds onto a step),
        computed without enumerating: with conditions, only the active combinations (a
        parameter multiplies the count only under the parent values that activate it).
        Raises SearchSpaceError naming a continuous float that has no grid."""
        for name, d in self._params.items():
            if d.grid_size() is None:
                raise SearchSpaceError(
                    f"parameter {name!r} is a continuous float with no grid: add grid: [...], "
                    "grid_points: k or step to it, or use another sampler than grid"
                )
        if not self._conditions:
            return math.prod(int(d.grid_size() or 0) for d in self._params.values())
        return math.prod(self._subtree_size(n) for n in self._params if n not in self._conditions)

    def _children(self, parent: str) -> list[str]:
        return [n for n, c in self._conditions.items() if c.parent == parent]

    def _subtree_size(self, name: str) -> int:
        """Grid points of `name` and the parameters below it, given that `name` is active."""
        d = self._params[name]
        children = self._children(name)
        if not children:
            return int(d.grid_size() or 0)
        return sum(
            math.prod(
                self._subtree_size(c) for c in children if _lists(self._conditions[c].values, v)
            )
            for v in d.grid_values(DEFAULT_GRID_CAP)
        )

    def grid_axes(self, cap: int = DEFAULT_GRID_CAP) -> tuple[tuple[ParamValue, ...], ...]:
        """The grid's values per parameter, after checking the grid's size against `cap`
        (before anything is enumerated). Raises SearchSpaceError when it is too large."""
        size = self.grid_size()
        if size > cap:
            sizes = " x ".join(f"{n}: {d.grid_size()}" for n, d in self._params.items())
            raise SearchSpaceError(
                f"the grid has {size} points ({sizes}), more than the cap of {cap}: "
                "use fewer grid values or grid_points, or another sampler (random, tpe, lipo)"
            )
        return tuple(tuple(d.grid_values(cap)) for d in self._params.values())

    def iter_grid(self, cap: int = DEFAULT_GRID_CAP) -> Iterator[Params]:
        """Every grid point, in lexicographic order (the last parameter varies fastest). With
        conditions: every active combination exactly once (inactive parameters absent), in
        lexicographic order of the parameters taken parents first."""
        axes = self.grid_axes(cap)
        if not self._conditions:
            for values in itertools.product(*axes):
                yield dict(zip(self._params, values, strict=True))
            return
        by_name = dict(zip(self._params, axes, strict=True))
        yield from self._grid_from(0, {}, by_name)

    def _grid_from(
        self, k: int, partial: Params, axes: Mapping[str, tuple[ParamValue, ...]]
    ) -> Iterator[Params]:
        """The grid points extending `partial`, which assigns `self._order[:k]` (the active
        ones)."""
        if k == len(self._order):
            yield {n: partial[n] for n in self._params if n in partial}
            return
        name = self._order[k]
        if not is_active(name, partial, self._conditions):
            yield from self._grid_from(k + 1, partial, axes)
            return
        for v in axes[name]:
            partial[name] = v
            yield from self._grid_from(k + 1, partial, axes)
        del partial[name]


def _lists(values: tuple[ParamValue, ...], v: ParamValue) -> bool:
    """Whether a condition's values include `v` (True is not 1)."""
    return any(isinstance(a, bool) == isinstance(v, bool) and a == v for a in values)
