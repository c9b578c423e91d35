"""Conditional parameters: `when: {parent: [values]}` and the tree it builds.

    optimizer: {type: categorical, choices: [sgd, momentum, adam]}
    momentum:  {type: float, low: 0.5, high: 0.99, when: {optimizer: [sgd, momentum]}}

A parameter with `when` is *active* only when its parent is active and takes one of the listed
values; an inactive parameter is absent from the configuration (not null, not a default). The
parent must be a categorical or an int (a bool-like parameter is a categorical of true/false),
so "takes one of the values" is an exact test; parents may be conditional themselves, so the
conditions form a forest. Everything here is checked when the space is built: an unknown
parent, a float parent, a value the parent cannot take and a cycle each raise
SearchSpaceError naming the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hpo.errors import SearchSpaceError, ValidationError
from hpo.space._categorical import Categorical
from hpo.space._params import Int, Param, ParamValue


@dataclass(frozen=True)
class Condition:
    """Active when `parent` is active and takes one of `values`."""

    parent: str
    values: tuple[ParamValue, ...]

    def to_dict(self) -> dict[str, list[ParamValue]]:
        return {self.parent: list(self.values)}


def condition_from_dict(when: object) -> Condition:
    """`{parent: [values]}` (one parent; a single value may be given without the list)."""
    if not isinstance(when, Mapping) or len(when) != 1:
        raise SearchSpaceError(
            f"when must name one parent and its values, e.g. when: {{optimizer: [sgd]}}, "
            f"got {when!r}"
        )
    ((parent, values),) = when.items()
    listed = tuple(values) if isinstance(values, list | tuple) else (values,)
    if not listed:
        raise SearchSpaceError(f"when: {{{parent}: []}} lists no value: list at least one")
    return Condition(str(parent), listed)


def check_conditions(params: Mapping[str, Param], conditions: Mapping[str, Condition]) -> None:
    """Raise SearchSpaceError for an unknown or float parent, a value the parent cannot take,
    or a cycle; each message names the parameter whose `when` to change."""
    for name, cond in conditions.items():
        if name not in params:
            raise SearchSpaceError(f"a condition is given for {name!r}, which is not a parameter")
        if cond.parent == name:
            raise SearchSpaceError(f"parameter {name!r}: when names the parameter itself")
        parent = params.get(cond.parent)
        if parent is None:
            raise SearchSpaceError(
                f"parameter {name!r}: when names {cond.parent!r}, which is not a parameter "
                f"(the parameters are {', '.join(params)})"
            )
        if not isinstance(parent, Categorical | Int):
            raise SearchSpaceError(
                f"parameter {name!r}: when names {cond.parent!r}, a {parent.kind}; a parent "
                "must be a categorical or an int"
            )
        for value in cond.values:
            try:
                parent.check(value)
            except ValidationError as e:
                raise SearchSpaceError(
                    f"parameter {name!r}: when lists {value!r}, which {cond.parent!r} cannot "
                    f"take ({e})"
                ) from None
    order_by_parents(params, conditions)


def order_by_parents(
    params: Mapping[str, Param], conditions: Mapping[str, Condition]
) -> tuple[str, ...]:
    """Every name after its parent (space order otherwise); raises on a cycle, naming it."""
    done: dict[str, None] = {}
    for start in params:
        chain: list[str] = []
        name: str | None = start
        while name is not None and name not in done:
            if name in chain:
                cycle = " -> ".join([*chain[chain.index(name) :], name])
                raise SearchSpaceError(f"the conditions form a cycle: {cycle}; break it")
            chain.append(name)
            cond = conditions.get(name)
            name = cond.parent if cond is not None else None
        for n in reversed(chain):
            done[n] = None
    return tuple(done)


def is_active(name: str, params: Mapping[str, Any], conditions: Mapping[str, Condition]) -> bool:
    """Whether `name` is active in `params` (its parents' values decide; an absent parent is
    inactive)."""
    cond = conditions.get(name)
    while cond is not None:
        if cond.parent not in params:
            return False
        value = params[cond.parent]
        if not any(_same(value, v) for v in cond.values):
            return False
        cond = conditions.get(cond.parent)
    return True


def _same(a: object, b: object) -> bool:
    """Equal and of the same family (True is not 1), as choices compare."""
    return (
        isinstance(a, bool) == isinstance(b, bool)
        and isinstance(a, str) == isinstance(b, str)
        and a == b
    )


def active_in_unit(
    params: Mapping[str, Param],
    conditions: Mapping[str, Condition],
    order: tuple[str, ...],
    unit: npt.NDArray[np.float64],
) -> npt.NDArray[np.bool_]:
    """Which coordinates are active at each row of unit-cube points (n, dim), vectorized:
    a row's parent value is what its coordinate decodes to."""
    names = list(params)
    col = {n: i for i, n in enumerate(names)}
    active = np.ones(unit.shape, dtype=bool)
    for name in order:
        cond = conditions.get(name)
        if cond is None:
            continue
        parent = params[cond.parent]
        u = unit[:, col[cond.parent]]
        if isinstance(parent, Categorical):
            allowed = [parent.index(v) for v in cond.values]
            hit = np.isin(parent.index_array(u), allowed)
        else:
            values = np.round(parent.from_unit_array(u))
            hit = np.isin(values, [float(v) for v in cond.values])
        active[:, col[name]] = active[:, col[cond.parent]] & hit
    return active
