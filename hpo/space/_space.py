"""`SearchSpace`: an ordered, immutable mapping from parameter name to domain.

It is the one place that turns configurations (dicts) into unit-cube vectors and back, so every
sampler agrees on what a point means. See `hpo.space._params` for the per-kind encoding.
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
from hpo.space._params import FloatArray, Param, Params, ParamValue
from hpo.space._parsing import params_from_dict

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
    """

    __slots__ = ("_hash", "_params")

    def __init__(self, params: Mapping[str, Param]) -> None:
        if len(params) == 0:
            raise SearchSpaceError("the search space is empty: give at least one parameter")
        for name, domain in params.items():
            if not isinstance(name, str) or not name:
                raise SearchSpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if not hasattr(domain, "kind") or domain.kind not in ("float", "int", "categorical"):
                raise SearchSpaceError(
                    f"parameter {name!r}: {domain!r} is not a Float, Int or Categorical"
                )
        self._params: Mapping[str, Param] = MappingProxyType(dict(params))
        self._hash = hash(tuple(self._params.items()))

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> SearchSpace:
        """Build from the YAML/JSON format: `{name: {type: float|int|categorical, ...}}`."""
        return cls(params_from_dict(mapping))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The YAML/JSON form; `SearchSpace.from_dict(space.to_dict()) == space`."""
        return {name: p.to_dict() for name, p in self._params.items()}

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
        return list(self._params.items()) == list(other._params.items())

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"SearchSpace({dict(self._params)!r})"

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
        """Number of distinct configurations; `math.inf` when any parameter is continuous."""
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
        naming every missing, unknown or out-of-domain parameter."""
        problems: list[str] = []
        missing = [n for n in self._params if n not in params]
        unknown = [n for n in params if n not in self._params]
        if missing:
            problems.append(f"missing {', '.join(map(repr, missing))}")
        if unknown:
            problems.append(
                f"unknown {', '.join(map(repr, unknown))} (the space has {', '.join(self._params)})"
            )
        out: Params = {}
        for name, domain in self._params.items():
            if name in params:
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
        """Configuration -> vector in [0, 1]^dim (validated first)."""
        p = self.validate(params)
        return np.array([d.to_unit(p[n]) for n, d in self._params.items()], dtype=np.float64)

    def encode_many(
        self, configs: Sequence[Mapping[str, object]], *, validate: bool = True
    ) -> FloatArray:
        """Configurations -> array of shape (len(configs), dim), one column at a time.
        `validate=False` skips the checks for configurations known to be valid (e.g. ones
        this space decoded), which makes encoding a long history cheap."""
        if validate:
            configs = [self.validate(c) for c in configs]
        out = np.zeros((len(configs), self.dim), dtype=np.float64)
        if not configs:
            return out
        for i, (name, d) in enumerate(self._params.items()):
            if isinstance(d, Categorical):
                out[:, i] = [(d.index(c[name]) + 0.5) / d.n_levels for c in configs]
            else:
                col = np.array([float(c[name]) for c in configs], dtype=np.float64)  # type: ignore[arg-type]
                out[:, i] = d.to_unit_array(col)
        return out

    def decode(self, u: npt.ArrayLike) -> Params:
        """Any vector of length dim -> a valid configuration (clipped, rounded, binned)."""
        vec = np.asarray(u, dtype=np.float64).reshape(-1)
        if vec.shape[0] != self.dim:
            raise ValueError(f"expected a vector of length {self.dim}, got {vec.shape[0]}")
        return {n: d.from_unit(float(vec[i])) for i, (n, d) in enumerate(self._params.items())}

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
        computed without enumerating. Raises SearchSpaceError naming a continuous float that
        has no grid."""
        total = 1
        for name, d in self._params.items():
            n = d.grid_size()
            if n is None:
                raise SearchSpaceError(
                    f"parameter {name!r} is a continuous float with no grid: add grid: [...], "
                    "grid_points: k or step to it, or use another sampler than grid"
                )
            total *= n
        return total

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
        """Every grid point, in lexicographic order (the last parameter varies fastest)."""
        axes = self.grid_axes(cap)
        for values in itertools.product(*axes):
            yield dict(zip(self._params, values, strict=True))
