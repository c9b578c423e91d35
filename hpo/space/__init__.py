"""Search spaces: parameter domains, YAML/JSON loading, validation, unit-cube encoding, grids.

    from hpo.space import SearchSpace, Float, Int, Categorical, load_space

    space = SearchSpace.from_dict({
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "depth": {"type": "int", "low": 1, "high": 4},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    })
    u = space.encode({"lr": 1e-3, "depth": 2, "activation": "tanh"})   # in [0, 1]^3
    space.decode(u)                                                     # back to the dict

Every malformed space raises `hpo.errors.SearchSpaceError` with what to change.
"""

from __future__ import annotations

from hpo.space._categorical import Categorical
from hpo.space._loading import (
    as_space,
    load_space,
    load_spec,
    read_mapping,
    space_from_dict,
)
from hpo.space._params import Float, Int, Param, Params, ParamValue
from hpo.space._parsing import param_from_dict
from hpo.space._space import DEFAULT_GRID_CAP, SearchSpace

__all__ = [
    "DEFAULT_GRID_CAP",
    "Categorical",
    "Float",
    "Int",
    "Param",
    "ParamValue",
    "Params",
    "SearchSpace",
    "as_space",
    "load_space",
    "load_spec",
    "param_from_dict",
    "read_mapping",
    "space_from_dict",
]
