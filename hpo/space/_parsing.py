"""Parameter domains from the YAML/JSON format of shared/DESIGN.md (`{type: float, ...}`):

    lr:         {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
    depth:      {type: int, low: 1, high: 4}
    activation: {type: categorical, choices: [relu, tanh]}
    dropout:    {type: float, low: 0.0, high: 0.5, grid_points: 3}
    momentum:   {type: float, low: 0.5, high: 0.99, when: {optimizer: [sgd]}}

`when` (any kind) makes a parameter conditional; hpo/space/_conditions.py reads and checks it.

Needs only the domain classes, so `SearchSpace.from_dict` (hpo/space/_space.py) can import it
at module level; reading files and study specs is hpo/space/_loading.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpo.errors import SearchSpaceError
from hpo.space._categorical import Categorical
from hpo.space._conditions import Condition, condition_from_dict
from hpo.space._params import Float, Int, Param

_KEYS: dict[str, tuple[str, ...]] = {
    "float": ("type", "low", "high", "log", "step", "grid", "grid_points"),
    "int": ("type", "low", "high", "log", "step", "grid", "grid_points"),
    "categorical": ("type", "choices"),
}


def param_from_dict(spec: Mapping[str, Any]) -> Param:
    """One domain from its mapping, e.g. `{"type": "int", "low": 1, "high": 4}`.

    A float or int given only `grid: [...]` takes low/high from the grid's extremes. A `when`
    key is allowed and ignored here: the space reads it (`conditions_from_dict`).
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
    unknown = [k for k in spec if k not in _KEYS[kind] and k != "when"]
    if unknown:
        raise SearchSpaceError(
            f"unknown key(s) {', '.join(map(repr, unknown))} for a {kind}: "
            f"the keys are {', '.join(_KEYS[kind])}, when"
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


def params_from_dict(mapping: Mapping[str, Any]) -> dict[str, Param]:
    """The domains of `{name: {type: ..., ...}}`; errors are prefixed with the name."""
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
    return params


def conditions_from_dict(mapping: Mapping[str, Any]) -> dict[str, Condition]:
    """The `when` of each parameter that has one (read after `params_from_dict` succeeded, so
    `mapping` holds mappings); errors are prefixed with the name."""
    conditions: dict[str, Condition] = {}
    for name, spec in mapping.items():
        if isinstance(spec, Mapping) and "when" in spec:
            try:
                conditions[str(name)] = condition_from_dict(spec["when"])
            except SearchSpaceError as e:
                raise SearchSpaceError(f"parameter {name!r}: {e}") from e
    return conditions
