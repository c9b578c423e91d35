"""The local model of the trust-region step: a quadratic fitted around the best point, maximised
inside a ball intersected with the box.

The model is m(s) = c + g.s + 1/2 s'Hs in local coordinates s = (x - x_best) / rho. With at
least (d+1)(d+2)/2 points it is the least-squares fit; with fewer (but at least d+1) it is the
interpolant of least Hessian norm, Powell's choice in NEWUOA: we get it from the minimum-norm
least-squares solution with the constant and linear columns scaled up, which makes their
coefficients nearly free so that the norm being minimised is, in effect, that of H.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Scale of the constant and linear columns: large, so the minimum-norm solution spends its norm
# on the Hessian (the minimum-Frobenius-norm interpolant), small enough to stay well conditioned.
_FREE_COLUMN_SCALE = 1e3


def n_quadratic_terms(d: int) -> int:
    """Coefficients of a full quadratic in d dimensions: 1 + d + d(d+1)/2."""
    return (d + 1) * (d + 2) // 2


def fit_quadratic(s: FloatArray, f: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """(c, g, H) of the quadratic through (or nearest to) the values f at the rows of s."""
    m, d = s.shape
    rows, cols = np.triu_indices(d)
    # Squared terms carry 1/2 so that the coefficient is H_kk itself; cross terms appear once.
    cross = s[:, rows] * s[:, cols] * np.where(rows == cols, 0.5, 1.0)
    basis = np.concatenate([_FREE_COLUMN_SCALE * np.ones((m, 1)), _FREE_COLUMN_SCALE * s, cross], 1)
    coef, *_ = np.linalg.lstsq(basis, f, rcond=1e-12)
    c = float(coef[0]) * _FREE_COLUMN_SCALE
    g = coef[1 : d + 1] * _FREE_COLUMN_SCALE
    h = np.zeros((d, d))
    h[rows, cols] = coef[d + 1 :]
    h[cols, rows] = coef[d + 1 :]
    return c, g, h


def _ball_step(b: FloatArray, h: FloatArray, radius: float) -> FloatArray:
    """argmin b.p + 1/2 p'Bp over |p| <= radius (the classical trust-region subproblem).

    In B's eigenbasis p(mu) = -(B + mu I)^-1 b. Either the Newton step is interior (B positive
    definite), or the solution is on the sphere with mu >= max(0, -lambda_min) chosen so that
    |p(mu)| = radius; |p(mu)| decreases in mu, so bisection finds it. In the "hard case" (b has
    no component along the lowest eigenvector) the step is completed along that eigenvector.
    """
    lam, vec = np.linalg.eigh(h)
    bt = vec.T @ b
    if lam[0] > 1e-12 * max(1.0, abs(lam[-1])):
        p = -bt / lam
        if np.linalg.norm(p) <= radius:
            return np.asarray(vec @ p, dtype=np.float64)
    low = max(0.0, -lam[0])
    high = low + np.linalg.norm(b) / radius + 1e-12
    for _ in range(100):
        mid = 0.5 * (low + high)
        denom = lam + mid
        if np.all(denom > 0) and np.linalg.norm(bt / denom) > radius:
            low = mid
        else:
            high = mid
    p = -bt / np.maximum(lam + high, 1e-300)
    gap = radius**2 - float(p @ p)
    if gap > 1e-12 * radius**2 and lam[0] < 0:
        # Hard case: walk along the most negative curvature to the sphere.
        p[0] += np.sqrt(gap)
    return np.asarray(vec @ p, dtype=np.float64)


def solve_trust_region(
    g: FloatArray, h: FloatArray, radius: float, lower: FloatArray, upper: FloatArray
) -> FloatArray:
    """argmax g.p + 1/2 p'Hp over |p| <= radius and lower <= p <= upper (lower <= 0 <= upper).

    Solve on the ball; coordinates that leave the box are pinned to the bound they crossed and
    the problem is solved again over the rest with the radius that remains. At most d rounds.
    """
    d = g.size
    b, bmat = -g, -h  # maximising m is minimising -m
    p = np.zeros(d)
    free = np.ones(d, dtype=bool)
    for _ in range(d):
        left = radius**2 - float(p[~free] @ p[~free])
        if left <= 0.0 or not free.any():
            break
        grad = b[free] + bmat[np.ix_(free, ~free)] @ p[~free]
        p[free] = _ball_step(grad, bmat[np.ix_(free, free)], np.sqrt(left))
        out = free & ((p < lower) | (p > upper))
        if not out.any():
            break
        p = np.clip(p, lower, upper)
        free &= ~out
    p = np.clip(p, lower, upper)
    if float(np.linalg.norm(p)) > radius:
        p *= radius / float(np.linalg.norm(p))
    return p


def model_gain(g: FloatArray, h: FloatArray, p: FloatArray) -> float:
    """m(p) - m(0): the improvement the model predicts for the step p."""
    return float(g @ p + 0.5 * p @ h @ p)
