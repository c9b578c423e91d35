"""`LipoSampler`: the adapter between the sampler protocol and the numpy core.

It turns the history into unit-cube arrays (numeric coordinates and categorical codes), calls
the core for each suggestion, and decodes the result. Between tells it keeps the fitted bound,
so that when the history has only grown the next fit starts from the previous binding pairs;
the fit is exact either way, so a rebuilt sampler suggests the same points.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import ThreadpoolController

from hpo.errors import ValidationError
from hpo.samplers._base import BaseSampler
from hpo.samplers._window import DEFAULT_MAX_HISTORY, window_option
from hpo.samplers.lipo._bound import FloatArray, Points, UpperBound
from hpo.samplers.lipo._search import Domain, History, Settings, fit_bound, propose
from hpo.space import Params


class LipoSampler(BaseSampler):
    """MaxLIPO with trust-region steps (Malherbe & Vayatis 2017; dlib's find_min_global).

    Conditional spaces (`when`): every parameter keeps its coordinate, and each point carries
    a mask of the coordinates active at it (from its parents' values). An inactive coordinate
    is set to one placeholder (0.5, or the first choice) and left out of every distance in
    which either point has it inactive: the Lipschitz cone of an observation with momentum
    inactive neither reaches further nor shorter along momentum, whatever a candidate's
    momentum is, so inactive dimensions neither help nor hurt the bound (and their constants
    K_k are fitted only on pairs where both points have them). The placeholder makes two
    candidates that differ only in inactive coordinates the same point, so no repeat is
    proposed. bench/conditional.py compares this with LIPO on the flattened space.

    Options:
        n_candidates: uniform candidates scored on the upper bound per step (default 5000).
        random_probability: chance of a pure random point per step (default 0.02).
        trust_region_every: one trust-region step out of this many proposals (default 2).
        max_history: past this many observations the bound is fitted on a window of them
            (default 1000; null: all): the best 50 of the older ones and every recent one
            (`hpo/samplers/_window.py`). A bound on fewer points is still an upper bound,
            only looser far from them; the best point, where the trust region works, stays.

    Keeps the history as numpy rows and losses (`X`, `losses()`), not `Observation` objects.

    Constraints: an infeasible trial counts as a failed one (the worst feasible loss so far,
    `BaseSampler.losses`), so the bound learns the region is bad without being told why.

    Several objectives (ParEGO, Knowles 2006): each ask draws a weight vector w uniformly
    from the simplex (this ask's seeded generator), scales every objective's losses to [0, 1]
    over the feasible observations, and maximizes the augmented Chebyshev scalarization
    `-(max_j w_j f_j + 0.05 sum_j w_j f_j)` as one objective. Different asks aim at different
    parts of the front; failed and infeasible trials get the worst value of every objective.
    """

    multi_objective: ClassVar[bool] = True
    # The augmentation weight rho of the Chebyshev scalarization: small, so it only breaks
    # ties between points on the same level set of the max term (weakly dominated points).
    chebyshev_rho: ClassVar[float] = 0.05
    keep_observations: ClassVar[bool] = False
    keep_keys: ClassVar[bool] = False

    options_defaults: ClassVar[Mapping[str, Any]] = {
        "n_candidates": Settings.n_candidates,
        "random_probability": Settings.random_probability,
        "trust_region_every": Settings.trust_region_every,
        "max_history": DEFAULT_MAX_HISTORY,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings = _settings(self.options)
        cats = self.space.categorical_dims
        self._num_cols = np.array([i for i in range(self.space.dim) if i not in cats], dtype=int)
        self._cat_cols = np.array(cats, dtype=int)
        levels = self.space.n_levels
        self._domain = Domain(
            discrete=np.array([i in self.space.discrete_dims for i in self._num_cols], dtype=bool),
            n_choices=tuple(int(levels[i] or 1) for i in cats),
            snap=self._snap_numeric,
            settle=self._settle if self.space.is_conditional else None,
        )
        self._cache: tuple[FloatArray, FloatArray, UpperBound | None] | None = None
        self._window = window_option(self.options["max_history"])

    # -- encoding ---------------------------------------------------------------------------
    def _snap_numeric(self, num: FloatArray) -> FloatArray:
        full = np.full((num.shape[0], self.space.dim), 0.5)
        full[:, self._num_cols] = num
        return np.asarray(self.space.snap(full)[:, self._num_cols], dtype=np.float64)

    def _points(self, unit: FloatArray) -> Points:
        cat = self.space.categorical_indices(unit).astype(np.int64)
        return self._domain.settled(Points(unit[:, self._num_cols], cat, self._domain.n_choices))

    def _unit(self, x: Points) -> FloatArray:
        """Points back in the space's unit cube, (n, dim)."""
        full = np.zeros((x.n, self.space.dim))
        full[:, self._num_cols] = x.num
        for j, col in enumerate(self._cat_cols):
            full[:, col] = (x.cat[:, j] + 0.5) / self._domain.n_choices[j]
        return full

    def _settle(self, x: Points) -> Points:
        """The active mask of each point (numeric dims first, as `Points` orders them), and
        its inactive coordinates at the placeholder: 0.5, or choice 0."""
        active = self.space.active_mask(self._unit(x))
        num_active, cat_active = active[:, self._num_cols], active[:, self._cat_cols]
        num = np.where(num_active, x.num, 0.5)
        cat = np.where(cat_active, x.cat, 0)
        mask = np.concatenate([num_active, cat_active], axis=1)
        return Points(num, cat, x.n_choices, mask)

    def _decode(self, x: Points) -> Params:
        return self.space.decode(self._unit(x)[0])

    # -- the protocol -----------------------------------------------------------------------
    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        # The matrix products here are small (hundreds of rows by ~10 columns): a second
        # BLAS thread saves little and, on a busy machine, spins against the other processes.
        # Measured on this project's shared 2-core machine at 1000 observations, the fresh ask
        # took 45-100 ms CPU with OpenBLAS's default two threads and 7.5 ms with one.
        # The limit is process-wide while it lasts (BLAS has no per-thread setting): two
        # overlapping asks in one process may leave it at one thread, which is harmless.
        with _blas_controller().limit(limits=1, user_api="blas"):
            return self._ask_single_threaded(n, rng)

    def _ask_single_threaded(self, n: int, rng: np.random.Generator) -> list[Params]:
        loss = self._scalarized(rng) if len(self.directions) > 1 else self.losses()[0]
        # Maximise -loss; with no real value yet (all failed) every point is equally bad.
        values = np.nan_to_num(-loss, nan=0.0)
        fitted = self.X
        if self._window.cut(len(values)):
            rows = self._window.rows(self._signed, self._valued & self._feasible)
            fitted, values = fitted[rows], values[rows]
        points = self._points(fitted)
        pending = self._points(self.space.encode_many(list(self.pending)))
        history = History(points, values, pending)
        previous = self._previous_bound(fitted, values)
        if previous is not None and self._cache is not None and len(self._cache[0]) == len(values):
            bound: UpperBound | None = previous  # the same history (e.g. a second ask): no refit
        else:
            bound = fit_bound(history, previous)
        self._cache = (fitted.copy(), values.copy(), bound)
        out: list[Params] = []
        for _ in range(n):
            x = propose(history, bound, self._domain, rng, self._settings)
            out.append(self._decode(x))
            history.pending = history.pending.concat(x)
        return out

    def _scalarized(self, rng: np.random.Generator) -> FloatArray:
        """One loss per observation: the augmented Chebyshev scalarization of its objectives
        under a random weight vector (see the class docstring)."""
        y, mask = self.loss_vectors()
        weights = rng.dirichlet(np.ones(y.shape[1]))
        if not mask.any():
            return np.full(y.shape[0], np.nan)
        low, high = y[mask].min(axis=0), y[mask].max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        scaled = (y - low) / span
        weighted = scaled * weights
        return np.asarray(
            weighted.max(axis=1) + self.chebyshev_rho * weighted.sum(axis=1), dtype=np.float64
        )

    def _previous_bound(self, x: FloatArray, values: FloatArray) -> UpperBound | None:
        """The last fit, if it was on a prefix of today's (windowed) history, else None (a
        cold fit). Within a window step the window only grows at its end, so this holds."""
        if self._cache is None:
            return None
        x_old, v_old, bound = self._cache
        k = x_old.shape[0]
        if k > x.shape[0]:
            return None
        same = np.array_equal(x_old, x[:k]) and np.array_equal(v_old, values[:k])
        return bound if same else None


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """The process's BLAS libraries, found once (a lookup costs ~0.7 ms; a limit ~0.02 ms).
    Built on first use, after numpy and scipy have loaded theirs."""
    return ThreadpoolController()


def _settings(options: Mapping[str, Any]) -> Settings:
    n_candidates = options["n_candidates"]
    prob = options["random_probability"]
    every = options["trust_region_every"]
    if not isinstance(n_candidates, int) or n_candidates < 1:
        raise ValidationError(f"n_candidates must be an integer >= 1, got {n_candidates!r}")
    if not isinstance(prob, int | float) or not 0.0 <= prob <= 1.0:
        raise ValidationError(f"random_probability must be in [0, 1], got {prob!r}")
    if not isinstance(every, int) or every < 1:
        raise ValidationError(f"trust_region_every must be an integer >= 1, got {every!r}")
    return Settings(
        n_candidates=n_candidates, random_probability=float(prob), trust_region_every=every
    )
