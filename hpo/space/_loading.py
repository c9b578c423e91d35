"""Reading search spaces from the YAML/JSON format of shared/DESIGN.md, and from study specs.

    lr:         {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
    depth:      {type: int, low: 1, high: 4}
    activation: {type: categorical, choices: [relu, tanh]}
    dropout:    {type: float, low: 0.0, high: 0.5, grid_points: 3}

A study spec (`search_spaces/*.yaml`) holds the space under `space:`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.errors import SearchSpaceError, ValidationError
from hpo.space._categorical import Categorical
from hpo.space._params import Float, Int, Param
from hpo.space._space import SearchSpace
from hpo.yamlload import load_yaml

_KEYS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "log", "step", "grid", "grid_points"),
    "int": ("type", "low", "high", "log", "step", "grid", "grid_points"),
    "categorical": ("type", "choices"),
}


def param_from_dict(spec: Mapping[str, Any]) -> Param:
    """One domain from its mapping, e.g. `{"type": "int", "low": 1, "high": 4}`.

    A float or int given only `grid: [...]` takes low/high from the grid's extremes.
    Raises SearchSpaceError with what to change.
    """
    if not isinstance(spec, Mapping):
        raise SearchSpaceError(
            f"expected a mapping such as {{type: float, low: 0, high: 1}}, got {spec!r}"
        )
    kind = spec.get("type")
    if kind not in _KEYS:
        raise SearchSpaceError(
            f"unknown type {kind!r}: use one of float, int, categorical"
            if kind is not None
            else "missing type: add type: float, int or categorical"
        )
    unknown = [k for k in spec if k not in _KEYS[kind]]
    if unknown:
        raise SearchSpaceError(
            f"unknown key(s) {', '.join(map(repr, unknown))} for a {kind}: "
            f"the keys are {', '.join(_KEYS[kind])}"
        )
    if kind == "categorical":
        if "choices" not in spec:
            raise SearchSpaceError("a categorical needs choices: [a, b, ...]")
        return Categorical(spec["choices"])
    grid = spec.get("grid")
    if grid is not None and (isinstance(grid, str) or not isinstance(grid, list | tuple)):
        raise SearchSpaceError(f"grid must be a list of values, got {grid!r}")
    low, high = spec.get("low"), spec.get("high")
    if grid and low is None and high is None:
        try:
            low, high = min(grid), max(grid)
        except TypeError as e:
            raise SearchSpaceError(f"grid values must be numbers, got {list(grid)!r}") from e
    if low is None or high is None:
        raise SearchSpaceError(f"a {kind} needs low and high (or only grid: [...])")
    cls = Float if kind == "float" else Int
    kwargs: dict[str, Any] = {"log": spec.get("log", False)}
    if spec.get("step") is not None:
        kwargs["step"] = spec["step"]
    if grid is not None:
        kwargs["grid"] = tuple(grid)
    if spec.get("grid_points") is not None:
        kwargs["grid_points"] = spec["grid_points"]
    return cls(low, high, **kwargs)


def space_from_dict(mapping: Mapping[str, Any]) -> SearchSpace:
    """A `SearchSpace` from `{name: {type: ..., ...}}`; errors are prefixed with the name."""
    if not isinstance(mapping, Mapping):
        raise SearchSpaceError(
            f"a search space is a mapping name -> {{type: ..., ...}}, got {type(mapping).__name__}"
        )
    params: dict[str, Param] = {}
    for name, spec in mapping.items():
        try:
            params[str(name)] = param_from_dict(spec)
        except SearchSpaceError as e:
            raise SearchSpaceError(f"parameter {name!r}: {e}") from e
    return SearchSpace(params)


def as_space(space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
    """Pass a `SearchSpace` through; build one from a mapping in the YAML format."""
    return space if isinstance(space, SearchSpace) else space_from_dict(space)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or JSON (.json) file holding a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"cannot read {p}: {e.strerror}; check the path") from e
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise ValidationError(f"{p} is not valid JSON: {e}") from None
    else:
        data = load_yaml(text, source=str(p))  # bounded: depth, aliases expanded
    if not isinstance(data, dict):
        raise ValidationError(f"{p} must hold a mapping at its top level")
    return data


def load_space(path: str | Path) -> SearchSpace:
    """A search space from a YAML/JSON file: either a bare space or a study spec (`space:`)."""
    data = read_mapping(path)
    raw = data["space"] if "space" in data and isinstance(data["space"], Mapping) else data
    try:
        return space_from_dict(raw)
    except SearchSpaceError as e:
        raise SearchSpaceError(f"{path}: {e}") from e


def load_spec(path: str | Path) -> dict[str, Any]:
    """A study spec from a YAML/JSON file as a plain dict, its `space` checked and left as
    the mapping. The full schema (pydantic) belongs to the API; this only reads the file."""
    data = read_mapping(path)
    if "space" not in data:
        raise ValidationError(f"{path}: a study spec needs a space: mapping")
    try:
        space_from_dict(data["space"])
    except SearchSpaceError as e:
        raise SearchSpaceError(f"{path}: {e}") from e
    return data
