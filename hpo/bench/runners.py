"""How one benchmark run evaluates a problem: through `hpo.optimize` for hpo's samplers, as a
seeded ask/tell loop over `dlib.global_function_search` for the side-by-side reference, or
through another library's optimizer (`peers.py`: Nevergrad, scikit-optimize).

Every runner returns the objective values in evaluation order (the objective records them as it
is called, so the benchmark does not depend on how a result object orders its trials). A failed
evaluation is recorded as NaN.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any

from hpo.bench.functions import Params, Problem, SpaceSpec
from hpo.bench.peers import PEERS
from hpo.errors import ValidationError
from hpo.optimize import optimize

DLIB = "dlib"


@dataclass(frozen=True)
class SamplerSpec:
    """A benchmark column: a sampler name and the factor the objective is multiplied by (the
    scale-invariance check runs `lipo@0.001` and `lipo@1000` beside plain `lipo`)."""

    name: str
    scale: float = 1.0

    @property
    def label(self) -> str:
        return self.name if self.scale == 1.0 else f"{self.name}@{self.scale:g}"

    @classmethod
    def parse(cls, text: str) -> SamplerSpec:
        name, _, scale = text.strip().partition("@")
        if not name:
            raise ValidationError(
                f"empty sampler name in {text!r}; write e.g. 'lipo' or 'lipo@1e3'"
            )
        if not scale:
            return cls(name)
        try:
            factor = float(scale)
        except ValueError:
            raise ValidationError(
                f"bad scale {scale!r} in {text!r}; write a positive number, e.g. 'lipo@1e-3'"
            ) from None
        if not (factor > 0 and math.isfinite(factor)):
            raise ValidationError(f"scale in {text!r} must be a positive finite number")
        return cls(name, factor)


def dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None


def run_one(spec: SamplerSpec, problem: Problem, n_trials: int, seed: int) -> list[float]:
    """Minimize `problem` (times `spec.scale`) for `n_trials` evaluations; return the unscaled
    objective values in evaluation order."""
    values: list[float] = []

    def objective(params: Params) -> float:
        value = problem.fn(params)
        values.append(value)
        return value * spec.scale

    if spec.name == DLIB:
        _run_dlib(objective, problem.space, n_trials, seed)
    elif spec.name in PEERS:
        PEERS[spec.name].run(objective, problem.space, n_trials, seed)
    else:
        optimize(
            objective,
            problem.space,
            sampler=spec.name,
            n_trials=n_trials,
            direction="minimize",
            seed=seed,
        )
    # A trial the sampler marked failed never reached `values`; pad so indices stay aligned.
    values.extend([math.nan] * (n_trials - len(values)))
    return values[:n_trials]


def _run_dlib(objective: Any, space: SpaceSpec, n_trials: int, seed: int) -> None:
    """dlib maximizes, so it is told the negated value. Floats with `log: true` are searched in
    log10 space, ints as dlib integers, categoricals as an integer index (dlib has no
    categorical type: this ordinal code is the best it can do)."""
    import dlib  # optional (the `bench` extra): imported only where it is used

    low: list[float] = []
    high: list[float] = []
    is_int: list[bool] = []
    for dom in space.values():
        if dom["type"] == "categorical":
            low.append(0.0)
            high.append(float(len(dom["choices"]) - 1))
            is_int.append(True)
        elif dom["type"] == "float" and dom.get("log"):
            low.append(math.log10(dom["low"]))
            high.append(math.log10(dom["high"]))
            is_int.append(False)
        else:
            low.append(float(dom["low"]))
            high.append(float(dom["high"]))
            is_int.append(dom["type"] == "int")
    gfs = dlib.global_function_search([dlib.function_spec(low, high, is_int)])
    gfs.set_seed(seed)
    for _ in range(n_trials):
        request = gfs.get_next_x()
        x = list(request.x)
        params: dict[str, Any] = {}
        for (name, dom), xi in zip(space.items(), x, strict=True):
            if dom["type"] == "categorical":
                params[name] = dom["choices"][round(xi)]
            elif dom["type"] == "int":
                params[name] = round(xi)
            elif dom.get("log"):
                params[name] = min(max(10.0**xi, dom["low"]), dom["high"])
            else:
                params[name] = xi
        try:
            value = float(objective(params))
        except Exception:
            value = math.inf
        request.set(-value if math.isfinite(value) else -1e300)
