"""Choosing the next point: MaxLIPO steps on the upper bound, alternated with trust-region steps.

Every quantity here is a function of the history (observations, pending points, the seeded RNG),
so a sampler rebuilt from the database proposes exactly what a long-lived one would. Values are
*maximised*; the adapter negates a minimised objective.

- Upper-bound step (MaxLIPO, Malherbe & Vayatis 2017): among thousands of uniform random
  candidates, take the one where the fitted bound U is largest: the point that could still hold
  the largest value. Pending points enter U as extra cones valued like their nearest observation,
  which pushes parallel suggestions apart.
- Trust-region step (the local half of dlib's find_min_global): fit a quadratic to the
  (d+1)(d+2)/2 observations nearest the best one, maximise it inside a ball of radius r, within
  the box. The radius is recomputed from the history: the distance to the farthest of those
  neighbours (the region the model was fitted on; after a success it grows with the move),
  halved for every failed step since the best was found (a failure leaves a point near the
  best that is newer than it): the classical ratio test, replayed from history rather than
  kept as state.
  Integer, stepped and categorical parameters stay at the best point's values.
- With a small probability, a uniform random point (keeps the search globally convergent).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hpo.samplers.lipo._bound import FloatArray, Points, UpperBound, fit_upper_bound
from hpo.samplers.lipo._quadratic import (
    fit_quadratic,
    model_gain,
    n_quadratic_terms,
    solve_trust_region,
)

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Domain:
    """What the core needs to know of the search space."""

    discrete: BoolArray  # per numeric dim: True for int / stepped floats (held by the TR step)
    n_choices: tuple[int, ...]  # per categorical dim
    snap: Callable[[FloatArray], FloatArray]  # numeric unit coordinates -> nearest valid ones
    # Conditional spaces: points -> the same points with their `active` mask set and their
    # inactive coordinates at one placeholder (so two points that differ only there are one
    # configuration). None: every dimension is always active.
    settle: Callable[[Points], Points] | None = None

    def settled(self, points: Points) -> Points:
        return points if self.settle is None else self.settle(points)

    @property
    def n_dims(self) -> int:
        return int(self.discrete.size) + len(self.n_choices)


@dataclass(frozen=True)
class Settings:
    """Tuning knobs, with the reasons for their defaults."""

    # Uniform candidates for the upper-bound step: as dlib. Capped by `max_pair_work` so the ask
    # stays fast with many observations (candidates x observations distances).
    n_candidates: int = 5000
    max_pair_work: int = 1_000_000
    # dlib's default: keeps the search globally convergent at little cost.
    random_probability: float = 0.02
    # Trust-region steps out of every two proposals (1 = alternate, as dlib).
    trust_region_every: int = 2


def random_points(domain: Domain, rng: np.random.Generator, m: int) -> Points:
    num = domain.snap(rng.random((m, domain.discrete.size)))
    cat = np.zeros((m, len(domain.n_choices)), dtype=np.int64)
    for j, c in enumerate(domain.n_choices):
        cat[:, j] = rng.integers(0, c, m)
    return domain.settled(Points(num, cat, domain.n_choices))


def centre_point(domain: Domain) -> Points:
    num = domain.snap(np.full((1, domain.discrete.size), 0.5))
    cat = np.array([[c // 2 for c in domain.n_choices]], dtype=np.int64).reshape(1, -1)
    return domain.settled(Points(num, cat, domain.n_choices))


def _sq_dist(a: Points, b: Points) -> FloatArray:
    """Plain unit-cube distances (categorical mismatch counts 1): (len(a), len(b))."""
    num = ((a.num[:, None, :] - b.num[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(num + (a.cat[:, None, :] != b.cat[None, :, :]).sum(axis=2), dtype=np.float64)


def _is_new(x: Points, taken: Points) -> bool:
    return taken.n == 0 or bool(_sq_dist(x, taken).min() > 1e-24)


@dataclass
class History:
    """Observations (values maximised, not yet standardised) and the points still pending."""

    points: Points
    values: FloatArray
    pending: Points


def fit_bound(history: History, previous: UpperBound | None) -> UpperBound | None:
    """The bound over the observations, with y standardised (the fit is scale-equivariant; the
    standardisation is for conditioning only)."""
    if history.points.n < 2:
        return None
    y = history.values
    scale = float(y.std()) or 1.0
    return fit_upper_bound(history.points, (y - y.mean()) / scale, previous)


def _fantasies(bound: UpperBound, history: History) -> FloatArray:
    """Pending points valued like their nearest observation (in the fitted metric)."""
    if history.pending.n == 0:
        return np.zeros(0)
    near = _sq_dist(history.pending, history.points).argmin(axis=1)
    return np.asarray(bound.y[near], dtype=np.float64)


def upper_bound_step(
    bound: UpperBound, history: History, domain: Domain, rng: np.random.Generator, cfg: Settings
) -> Points | None:
    """The random candidate with the largest upper bound; None if none promises improvement."""
    cones = bound.with_cones(history.pending, _fantasies(bound, history))
    m = int(np.clip(cfg.max_pair_work // max(cones.points.n, 1), 256, cfg.n_candidates))
    cand = random_points(domain, rng, m)
    u = cones(cand)
    taken = history.points.concat(history.pending)
    for i in np.argsort(-u, kind="stable")[:16]:
        if u[i] <= bound.y.max():
            return None
        x = cand.take(np.array([i]))
        if _is_new(x, taken):
            return x
    return None


def _neighbourhood(history: History, domain: Domain, best: int) -> NDArray[np.int64]:
    """The observations the quadratic is fitted on: nearest to the best in the continuous
    coordinates, among those sharing its discrete values when there are enough of them."""
    pts, cont = history.points, ~domain.discrete
    d_c = int(cont.sum())
    need = n_quadratic_terms(d_c)
    same = np.all(pts.num[:, ~cont] == pts.num[best, ~cont], axis=1) & np.all(
        pts.cat == pts.cat[best], axis=1
    )
    pool = np.flatnonzero(same) if same.sum() >= d_c + 2 else np.arange(pts.n)
    dist = ((pts.num[pool][:, cont] - pts.num[best, cont]) ** 2).sum(axis=1)
    order = np.argsort(dist, kind="stable")[:need]
    return np.asarray(pool[order], dtype=np.int64)


@dataclass(frozen=True)
class _LocalModel:
    centre: FloatArray  # x_best (continuous coordinates)
    rho: float  # the neighbourhood's radius: the unit of the local coordinates
    g: FloatArray
    h: FloatArray


def _local_model(history: History, domain: Domain, best: int) -> _LocalModel | None:
    cont = ~domain.discrete
    near = _neighbourhood(history, domain, best)
    if near.size < int(cont.sum()) + 2:
        return None
    x = history.points.num[near][:, cont]
    centre = history.points.num[best, cont]
    rho = float(np.sqrt(((x - centre) ** 2).sum(axis=1)).max())
    # Raw differences to the best: near convergence they are ~1e-12 of the values themselves.
    f = history.values[near] - history.values[best]
    spread = float(np.abs(f).max())
    if rho <= 1e-15 or spread == 0.0:
        return None
    _, g, h = fit_quadratic((x - centre) / rho, f / spread)
    return _LocalModel(centre, rho, g, h)


def _radius_factor(history: History, domain: Domain, best: int, model: _LocalModel) -> float:
    """The ratio test, replayed from history: halve the radius for every failure since the best.

    A step that did worse than its model predicted left a point near the best that is newer
    than it (a success would have become the best). Counting those points gives the number of
    consecutive failures, so r = rho / 2^failures without any state kept between asks.
    """
    cont = ~domain.discrete
    newer = history.points.num[best + 1 :, cont]
    near = np.linalg.norm(newer - model.centre, axis=1) <= model.rho * 1.001
    return float(0.5 ** min(int(near.sum()), 50))


def trust_region_step(history: History, domain: Domain) -> Points | None:
    """The maximiser of the local quadratic model, or None when it predicts no improvement."""
    cont = ~domain.discrete
    if not cont.any() or history.points.n < int(cont.sum()) + 2:
        return None
    best = int(np.argmax(history.values))
    model = _local_model(history, domain, best)
    if model is None:
        return None
    radius = _radius_factor(history, domain, best, model)
    # Only one trust-region point in flight: a pending one in the region means it is taken.
    if history.pending.n:
        near = np.linalg.norm(history.pending.num[:, cont] - model.centre, axis=1)
        if (near <= model.rho * radius).any():
            return None
    lower, upper = -model.centre / model.rho, (1.0 - model.centre) / model.rho
    p = solve_trust_region(model.g, model.h, radius, lower, upper)
    if model_gain(model.g, model.h, p) <= 1e-12 or np.linalg.norm(p) * model.rho < 1e-15:
        return None
    x = history.points.take(np.array([best]))
    num = x.num.copy()
    num[0, cont] = np.clip(model.centre + p * model.rho, 0.0, 1.0)
    out = domain.settled(Points(num, x.cat, x.n_choices))
    return out if _is_new(out, history.points.concat(history.pending)) else None


def propose(
    history: History,
    bound: UpperBound | None,
    domain: Domain,
    rng: np.random.Generator,
    cfg: Settings,
) -> Points:
    """One new point: centre first, random until there are a few observations, then
    trust-region and upper-bound steps in turn (by the parity of the history's length)."""
    taken = history.points.concat(history.pending)
    if taken.n == 0:
        return centre_point(domain)
    if bound is None or history.points.n < max(3, domain.n_dims):
        return _random_new(domain, rng, taken)
    if taken.n % cfg.trust_region_every == 0:
        x = trust_region_step(history, domain)
        if x is not None:
            return x
    if rng.random() >= cfg.random_probability:
        x = upper_bound_step(bound, history, domain, rng, cfg)
        if x is not None:
            return x
    return _random_new(domain, rng, taken)


def _random_new(domain: Domain, rng: np.random.Generator, taken: Points) -> Points:
    """A uniform point not yet taken (the first of a few draws that is new)."""
    cand = random_points(domain, rng, 64)
    for i in range(cand.n):
        x = cand.take(np.array([i]))
        if _is_new(x, taken):
            return x
    return cand.take(np.array([0]))
