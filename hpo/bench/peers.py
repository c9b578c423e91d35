"""Other libraries' optimizers behind the benchmark's runner interface (issue 19's peers), each
an optional import (`pip install -e '.[peers]'`): Nevergrad's `NGOpt` and scikit-optimize's
`gp_minimize`. dlib's `global_function_search` lives in runners.py, where it started.

Each runner minimizes `objective(params)` over a problem's space for `n_trials` evaluations,
seeded by `seed`, and maps the space onto the library's own types: floats (log floats in the
library's log scale where it has one), ints as integers, categoricals as the library's
categorical type (both have one, unlike dlib). The benchmark reads the values off the objective
as it is called, so a runner returns nothing.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpo.bench.problem import SpaceSpec
from hpo.errors import HpoError

Objective = Callable[[Mapping[str, Any]], float]
# What a failed or non-finite evaluation is told as: both libraries need a finite number.
_WORST = 1e300


class PeerFailed(HpoError):
    """A peer library's own code raised (not the objective): the run cannot go on, and the
    message says which library, version and step, so the user can leave that peer out."""


@dataclass(frozen=True)
class Peer:
    name: str  # the benchmark column (`hpo bench --samplers NAME`)
    module: str  # what must be importable
    install: str  # the package to install, for the message when it is not
    run: Callable[[Objective, SpaceSpec, int, int], None]

    def available(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


def _safe(objective: Objective, params: Mapping[str, Any]) -> float:
    try:
        value = float(objective(params))
    except Exception:
        return _WORST
    return value if math.isfinite(value) else _WORST


def run_nevergrad(objective: Objective, space: SpaceSpec, n_trials: int, seed: int) -> None:
    """`NGOpt` (Nevergrad's own pick of algorithm for the space and budget), one worker, an
    ask/tell loop; seeded through the parametrization's random state. On an all-continuous
    space and a small budget NGOpt picks Cobyla, which starts at the centre and uses no random
    numbers: every seed then gives the same run (zero IQR in the tables), as a user would get."""
    import nevergrad as ng
    import numpy as np

    parts: dict[str, Any] = {}
    for name, dom in space.items():
        if dom["type"] == "categorical":
            parts[name] = ng.p.Choice(list(dom["choices"]))
        elif dom["type"] == "int":
            parts[name] = ng.p.Scalar(lower=dom["low"], upper=dom["high"]).set_integer_casting()
        elif dom.get("log"):
            parts[name] = ng.p.Log(lower=dom["low"], upper=dom["high"])
        else:
            parts[name] = ng.p.Scalar(lower=dom["low"], upper=dom["high"])
    parametrization = ng.p.Dict(**parts)
    parametrization.random_state = np.random.RandomState(seed)
    optimizer = ng.optimizers.NGOpt(parametrization=parametrization, budget=n_trials)
    for i in range(n_trials):
        try:
            candidate = optimizer.ask()
        except Exception as e:
            # Seen: nevergrad 1.0.12's MetaModel (NGOpt's pick past ~100 evaluations in a few
            # dimensions) calls float() on a 1-element array, a TypeError since numpy 2.
            raise PeerFailed(
                f"nevergrad {ng.__version__} failed inside NGOpt at evaluation {i + 1} of "
                f"{n_trials} with numpy {np.__version__} ({type(e).__name__}: {e}); "
                "leave nevergrad out of --samplers"
            ) from e
        params = {name: _plain(value) for name, value in candidate.value.items()}
        optimizer.tell(candidate, _safe(objective, params))


def run_skopt(objective: Objective, space: SpaceSpec, n_trials: int, seed: int) -> None:
    """`gp_minimize` with its defaults (10 random starts, then a GP with the `gp_hedge`
    acquisition), fewer starts when the budget is smaller than 10."""
    from skopt import gp_minimize
    from skopt.space import Categorical, Integer, Real

    names = list(space)
    dims: list[Any] = []
    for dom in space.values():
        if dom["type"] == "categorical":
            dims.append(Categorical(list(dom["choices"])))
        elif dom["type"] == "int":
            dims.append(Integer(dom["low"], dom["high"]))
        elif dom.get("log"):
            dims.append(Real(dom["low"], dom["high"], prior="log-uniform"))
        else:
            dims.append(Real(dom["low"], dom["high"]))

    def on_vector(x: list[Any]) -> float:
        return _safe(objective, {n: _plain(v) for n, v in zip(names, x, strict=True)})

    gp_minimize(
        on_vector,
        dims,
        n_calls=n_trials,
        n_initial_points=min(10, n_trials),
        random_state=seed,
    )


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (the objective and the records expect plain values)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


PEERS: dict[str, Peer] = {
    peer.name: peer
    for peer in (
        Peer("nevergrad", "nevergrad", "nevergrad", run_nevergrad),
        Peer("skopt", "skopt", "scikit-optimize", run_skopt),
    )
}
