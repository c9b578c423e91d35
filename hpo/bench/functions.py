"""The benchmark problems: analytic test functions with known global minima, in hpo's
search-space format, by name (`PROBLEMS`, `get_problem`).

Two suites. `original`: the nine problems of the first benchmark (branin ... mixed), kept under
their names, domains and optima so earlier figures stay comparable. `added` (issue 19): the
rest of the Dixon-Szegö set, Shubert, Michalewicz, and Rastrigin, Griewank, Ackley, Levy,
Rosenbrock, Styblinski-Tang and Zakharov at several dimensions in 2-10, plus mixed
integer/categorical variants (`mixed.py`). The definitions and their sources are in
`classic.py`.

Every problem is a minimization over a box whose centre is not the optimum (a sampler that
starts at the centre gains nothing): where the standard box is centred on the minimizer
(Rastrigin, Griewank) it is shifted by a quarter of its width, so the origin lies a quarter of
the way in. `Problem.optimum` is the global minimum value, refined to double precision with a
local optimizer from the published minimizer (the published four-digit minimizers of
Hartmann3/6 and Shekel are off by ~1e-6 in value, which would floor every regret at
log10 ~ -6), so simple regret can reach 1e-12. Michalewicz's optimum (known only numerically
for d = 5, 10) is exact for the same reason: the function is separable, so each coordinate's
1-D term was minimized on a dense grid and refined (see `_michalewicz`).

`NAME+noiseF` is NAME with additive Gaussian noise of sd F times the function's range over the
domain (`noise.py`); its optimum and regret are those of the noiseless function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache

import numpy as np

from hpo.bench import classic as c
from hpo.bench.classic import ST_F, ST_X, Vector
from hpo.bench.mixed import mixed_problems
from hpo.bench.problem import (
    ADDED,
    ORIGINAL,
    SUITES,
    Params,
    Problem,
    SpaceSpec,
    box,
    names,
    vector_fn,
    vector_problem,
)
from hpo.errors import ValidationError

__all__ = [
    "ADDED",
    "ORIGINAL",
    "PROBLEMS",
    "SUITES",
    "Params",
    "Problem",
    "SpaceSpec",
    "box",
    "get_problem",
    "names",
    "problems_of",
    "vector_fn",
    "vector_problem",
]

# ---- the original nine (unchanged: earlier figures were made on exactly these) --------------

# Per-activation weight on the continuous part and additive offset: only "gelu" reaches 0.
_MIXED_WEIGHT = {"relu": 1.0, "tanh": 1.5, "gelu": 1.0, "sigmoid": 0.5}
_MIXED_OFFSET = {"relu": 0.5, "tanh": 1.0, "gelu": 0.0, "sigmoid": 2.0}
_MIXED_SPACE: SpaceSpec = {
    "x0": {"type": "float", "low": -5.0, "high": 10.0},
    "x1": {"type": "float", "low": 0.0, "high": 15.0},
    "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    "depth": {"type": "int", "low": 1, "high": 12},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu", "sigmoid"]},
}


def mixed(params: Params) -> float:
    """A tuning-shaped problem: Branin in (x0, x1), a log-scale bowl in lr (best at 10^-2.5),
    a quadratic in the integer depth (best at 9) and a categorical that scales and shifts it."""
    act = str(params["activation"])
    cont = c.branin(np.array([float(params["x0"]), float(params["x1"])])) - 5.0 / (4 * math.pi)
    cont += (math.log10(float(params["lr"])) + 2.5) ** 2
    return _MIXED_WEIGHT[act] * cont + 0.1 * (int(params["depth"]) - 9) ** 2 + _MIXED_OFFSET[act]


def _original() -> list[Problem]:
    ds, sb = "Dixon & Szegö 1978; Surjanovic & Bingham", "Jamil & Yang 2013; Surjanovic & Bingham"
    return [
        vector_problem(
            "branin", c.branin, [(-5, 10), (0, 15)], 5.0 / (4 * math.pi), [math.pi, 2.275],
            source=ds,
        ),
        vector_problem(
            "hartmann3",
            c.hartmann3,
            [(0, 1)] * 3,
            -3.862779787332663,
            [0.1145888794692833, 0.5556488953859497, 0.85254698581171],
            source=ds,
        ),
        vector_problem(
            "hartmann6",
            c.hartmann6,
            [(0, 1)] * 6,
            -3.3223680114155147,
            [
                0.20168951187114326,
                0.1500106877127264,
                0.4768739762240153,
                0.2753324293081809,
                0.3116516161448476,
                0.6573005334338057,
            ],
            source=ds,
        ),
        vector_problem("rosenbrock4", c.rosenbrock, [(-5, 10)] * 4, 0.0, [1.0] * 4, source=sb),
        vector_problem(
            "styblinski5", c.styblinski_tang, [(-5, 5)] * 5, 5 * ST_F, [ST_X] * 5, source=sb
        ),
        vector_problem("ackley5", c.ackley, [(-5, 10)] * 5, 0.0, [0.0] * 5, source=sb),
        vector_problem("levy5", c.levy, [(-10, 10)] * 5, 0.0, [1.0] * 5, source=sb),
        vector_problem(
            "goldstein2", c.goldstein_price, [(-2, 2)] * 2, 3.0, [0.0, -1.0], source=ds
        ),
        Problem(
            "mixed",
            _MIXED_SPACE,
            mixed,
            0.0,
            {"x0": math.pi, "x1": 2.275, "lr": 10**-2.5, "depth": 9, "activation": "gelu"},
            source="hpo's own: Branin + a log-scale bowl + an int quadratic + a categorical",
        ),
    ]  # fmt: skip


# ---- added with issue 19 ---------------------------------------------------------------------

# Each Michalewicz coordinate's minimizer on [0, pi] (m = 10). The function is separable, so
# (x_1*, ..., x_d*) is the global minimizer for every d; found by minimizing each 1-D term on a
# grid of 2 000 001 points and refining with a bounded scalar search. Sums: -1.8013034 (d = 2),
# -4.68765818 (d = 5; published -4.687658), -9.66015172 (d = 10; published -9.66015).
MICHALEWICZ_XSTAR = (
    2.2029055201716035,
    1.5707963267948966,
    1.2849915705494115,
    1.9230584698654392,
    1.7204697725658575,
    1.5707963267948966,
    1.4544139713617037,
    1.7560865209441525,
    1.6557174168207853,
    1.5707963267948966,
)
MICHALEWICZ_OPTIMUM = {2: -1.8013034100985525, 5: -4.687658179088147, 10: -9.660151715641344}

# Shekel's minimizers near (4, 4, 4, 4), refined from it with L-BFGS-B then Nelder-Mead.
_SHEKEL = {
    5: (
        -10.153199679058226,
        [4.000037150855274, 4.000133273667997, 4.000037149876255, 4.000133272751413],
    ),
    7: (
        -10.402915336777745,
        [4.000572818611177, 3.9996062097438223, 4.000572820069286, 3.9996062099770864],
    ),
    10: (
        -10.536443153483528,
        [4.000746870669021, 3.9995094794552646, 4.000746868137331, 3.999509483670672],
    ),
}

# Where the standard box is centred on the minimizer: the same width, shifted by a quarter of it.
_RASTRIGIN_BOX = (-2.56, 7.68)  # standard [-5.12, 5.12]
_GRIEWANK_BOX = (-300.0, 900.0)  # standard [-600, 600]


def _shekel(m: int) -> Callable[[Vector], float]:
    def f(x: Vector) -> float:
        return c.shekel(x, m)

    return f


def _added() -> list[Problem]:
    ds = "Dixon & Szegö 1978; Surjanovic & Bingham"
    sb = "Jamil & Yang 2013; Surjanovic & Bingham"
    out = [
        vector_problem(
            "sixhumpcamel",
            c.six_hump_camel,
            [(-3, 3), (-2, 2)],
            -1.0316284534898774,
            [0.08984201164977734, -0.7126564041106396],
            ADDED,
            ds,
        ),
        vector_problem(
            "shubert",
            c.shubert,
            [(-10, 10)] * 2,
            -186.73090883102392,
            [-7.083506407506367, 4.858056876610094],
            ADDED,
            sb,
        ),
    ]
    out += [
        vector_problem(f"shekel{m}", _shekel(m), [(0, 10)] * 4, opt, x, ADDED, ds)
        for m, (opt, x) in _SHEKEL.items()
    ]
    out += [
        vector_problem(
            f"michalewicz{d}",
            c.michalewicz,
            [(0, math.pi)] * d,
            MICHALEWICZ_OPTIMUM[d],
            MICHALEWICZ_XSTAR[:d],
            ADDED,
            sb + " (d = 5, 10: optimum computed, see MICHALEWICZ_XSTAR)",
        )
        for d in (2, 5, 10)
    ]
    families: list[tuple[str, Callable[[Vector], float], tuple[float, float], float, float]] = [
        # name, function, box per coordinate, minimizer coordinate, optimum per coordinate
        ("rastrigin", c.rastrigin, _RASTRIGIN_BOX, 0.0, 0.0),
        ("griewank", c.griewank, _GRIEWANK_BOX, 0.0, 0.0),
        ("ackley", c.ackley, (-5.0, 10.0), 0.0, 0.0),
        ("levy", c.levy, (-10.0, 10.0), 1.0, 0.0),
        ("rosenbrock", c.rosenbrock, (-5.0, 10.0), 1.0, 0.0),
        ("styblinski", c.styblinski_tang, (-5.0, 5.0), ST_X, ST_F),
        ("zakharov", c.zakharov, (-5.0, 10.0), 0.0, 0.0),
    ]
    original = {p.name for p in _original()}
    for family, f, bounds, xstar, fstar in families:
        for d in (2, 5, 10):
            name = f"{family}{d}"
            if name in original:
                continue  # ackley5, levy5, styblinski5 stay as they were
            out.append(vector_problem(name, f, [bounds] * d, d * fstar, [xstar] * d, ADDED, sb))
    return out + mixed_problems()


def _make_problems() -> dict[str, Problem]:
    return {p.name: p for p in _original() + _added()}


PROBLEMS: Mapping[str, Problem] = _make_problems()
"""Every benchmark problem by name (a read-only constant, built once); noisy variants are made
on demand by `get_problem`."""

_NOISY = re.compile(r"^(?P<base>[^+]+)\+noise(?P<frac>[0-9.eE+-]+)$")


def get_problem(name: str) -> Problem:
    """The problem called `name`, or `BASE+noiseF`: BASE with noise of sd F times its range."""
    if name in PROBLEMS:
        return PROBLEMS[name]
    match = _NOISY.match(name)
    if match is not None and match["base"] in PROBLEMS:
        return _noisy(match["base"], match["frac"])
    known = ", ".join(PROBLEMS)
    raise ValidationError(
        f"unknown benchmark function {name!r}; choose from: {known} "
        "(or NAME+noiseF, e.g. branin+noise0.01)"
    )


@lru_cache(maxsize=256)
def _noisy(base: str, frac_text: str) -> Problem:
    from hpo.bench.noise import value_range  # numpy sampling: only when a noisy name is asked

    try:
        frac = float(frac_text)
    except ValueError:
        frac = math.nan
    if not (frac > 0 and math.isfinite(frac)):
        raise ValidationError(
            f"noise level {frac_text!r} must be a positive fraction of the range, e.g. 0.01"
        )
    problem = PROBLEMS[base]
    sd = frac * value_range(problem)
    return replace(problem, name=f"{base}+noise{frac_text}", noise_sd=sd)


def problems_of(suite: str) -> tuple[str, ...]:
    """The names in one suite (`original`, `added`) or `all`."""
    if suite == "all":
        return tuple(PROBLEMS)
    if suite not in SUITES:
        raise ValidationError(f"unknown suite {suite!r}: use all, {', '.join(SUITES)}")
    return tuple(n for n, p in PROBLEMS.items() if p.suite == suite)
