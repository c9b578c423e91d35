"""The Lipschitz upper bound of MaxLIPO and the quadratic program that fits it.

For observations (x_i, y_i) of a function to be *maximised*, the bound is

    U(x) = min_i  y_i + sqrt( sigma_i + sum_k K_k d_k(x, x_i) )

where d_k is the squared difference (x_k - x_ik)^2 on a numeric dimension (continuous or integer,
in unit-cube coordinates) and the mismatch indicator [x_k != x_ik] on a categorical one. There is
one Lipschitz constant K_k >= 0 per dimension (a scaled metric, so a flat direction does not have
to pay for a steep one) and a small noise term sigma_i >= 0 per point (so two close points with
different values, from noise or a discontinuity, need not blow K up).

The bound must hold at the observations: for every pair with y_h > y_l the cone of the lower point
l must reach the higher point h,

    y_h <= y_l + sqrt(sigma_l + K . d(x_h, x_l))   <=>   K . d(x_h, x_l) + sigma_l >= (y_h - y_l)^2.

(The reverse direction holds trivially.) Among all (K, sigma) satisfying these linear constraints
we take the smallest, in the sense of the quadratic program (as in dlib's upper_bound_function)

    minimise  1/2 |K|^2 + lambda/2 |sigma|^2   subject to  the pair constraints above.

The program is a *least-distance problem* in z = (K, sqrt(lambda) sigma): min |z| s.t. G z >= h,
which Lawson & Hanson (1974, ch. 23) reduce to one non-negative least-squares problem
(`scipy.optimize.nnls`): min |E u - f| over u >= 0 with E = [G^T; h^T], f = (0,..,0,1); then
z = -r[:-1] / r[-1] for the residual r = E u - f. The NNLS multipliers u are the dual variables:
u_p > 0 exactly for the binding pairs. Because G >= 0 and h >= 0, z >= 0 comes for free.

There are n(n-1)/2 pairs, but only a few dozen bind. So we solve on a *working set* of pairs and
add the pairs the solution violates (found for all pairs at once with a Gram matrix, O(n^2 p)
flops in BLAS), drop the pairs that stopped binding, and repeat until no pair is violated. The
binding set is kept between fits, so refitting after a new observation usually takes one round.
The objective is homogeneous (scaling y by c scales K and sigma by c^2), so the fit, and the bound,
are exactly equivariant to the scale of the objective.

Conditional spaces. A point may leave some dimensions inactive (momentum when the optimizer is
adam): `Points.active` says which. The distance then sums only over the dimensions active at
*both* points,

    d(x, x') = sum_k [k active at x and at x'] K_k d_k(x, x'),

so an inactive coordinate (a placeholder, whatever its value) neither shortens a cone (help:
it would make an untried point look close to an observation) nor lengthens one (hurt: it
would add distance that means nothing). Two points whose active sets differ always differ in
a parent's value, and that dimension's own term says how far apart they are. This masked
distance is no Gram identity of one feature map, so masked points take an explicit
(broadcast) path; points without a mask keep the matrix-product path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import nnls

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Penalty lambda on the noise terms, in units where y is standardised and x lies in the unit cube.
# Large: noise is the last resort when no Lipschitz constant fits (about dlib's default of a
# relative noise magnitude of 1e-3, translated to these units).
DEFAULT_NOISE_PENALTY = 1e8


@dataclass(frozen=True)
class Points:
    """Observations in the core's encoding: numeric unit-cube coordinates and categorical codes."""

    num: FloatArray  # (n, d_num) in [0, 1]
    cat: IntArray  # (n, d_cat) codes in 0..n_choices[c]-1
    n_choices: tuple[int, ...]  # choices per categorical dimension
    # (n, d_num + d_cat): which dimensions are active (numeric first); None: all of them.
    active: NDArray[np.bool_] | None = None

    @property
    def n(self) -> int:
        return int(self.num.shape[0])

    @property
    def n_dims(self) -> int:
        """Number of Lipschitz constants: one per numeric and one per categorical dimension."""
        return int(self.num.shape[1]) + int(self.cat.shape[1])

    def take(self, index: IntArray | slice) -> Points:
        active = None if self.active is None else self.active[index]
        return Points(self.num[index], self.cat[index], self.n_choices, active)

    def concat(self, other: Points) -> Points:
        active = None
        if self.active is not None or other.active is not None:
            active = np.concatenate([self.mask(), other.mask()])
        return Points(
            np.concatenate([self.num, other.num]),
            np.concatenate([self.cat, other.cat]),
            self.n_choices,
            active,
        )

    def mask(self) -> NDArray[np.bool_]:
        """`active`, or all True."""
        if self.active is not None:
            return self.active
        return np.ones((self.n, self.n_dims), dtype=bool)


def _masked(a: Points, b: Points) -> bool:
    return a.active is not None or b.active is not None


def pair_distances(a: Points, b: Points) -> FloatArray:
    """Per-dimension distances d_k(a_p, b_p) of aligned rows: (m, n_dims), zero where a
    dimension is inactive at either point."""
    num = (a.num - b.num) ** 2
    cat = (a.cat != b.cat).astype(np.float64)
    out = np.concatenate([num, cat], axis=1)
    if _masked(a, b):
        out *= a.mask() & b.mask()
    return out


def _masked_sq_distances(a: Points, b: Points, slopes: FloatArray) -> FloatArray:
    """sum_k K_k d_k(a_i, b_j) over the dimensions active at both: (len(a), len(b)), by
    broadcasting (the conditional path; see the module docstring)."""
    both = a.mask()[:, None, :] & b.mask()[None, :, :]
    d_num = a.num.shape[1]
    num = (a.num[:, None, :] - b.num[None, :, :]) ** 2 * slopes[None, None, :d_num]
    cat = (a.cat[:, None, :] != b.cat[None, :, :]) * slopes[None, None, d_num:]
    out = (num * both[:, :, :d_num]).sum(axis=2) + (cat * both[:, :, d_num:]).sum(axis=2)
    return np.asarray(out, dtype=np.float64)


def _features(points: Points, slopes: FloatArray) -> FloatArray:
    """Rows z(x) with |z(x) - z(x')|^2 = sum_k K_k d_k(x, x').

    Numeric dims scale by sqrt(K_k). A categorical dim becomes a one-hot block scaled by
    sqrt(K_c / 2): two different one-hot rows are at squared distance 2, equal ones at 0.
    """
    d_num = points.num.shape[1]
    blocks = [points.num * np.sqrt(slopes[:d_num])]
    for c, m in enumerate(points.n_choices):
        onehot = np.zeros((points.n, m))
        onehot[np.arange(points.n), points.cat[:, c]] = np.sqrt(slopes[d_num + c] / 2.0)
        blocks.append(onehot)
    return np.concatenate(blocks, axis=1)


def weighted_sq_distances(a: Points, b: Points, slopes: FloatArray) -> FloatArray:
    """All cross distances sum_k K_k d_k(a_i, b_j), (len(a), len(b)), by the Gram-matrix identity.

    |za - zb|^2 = |za|^2 + |zb|^2 - 2 za.zb puts the work in one matrix product; it loses
    absolute precision ~1e-16 |z|^2 for near-coincident points, which callers tolerate.
    """
    if _masked(a, b):
        return _masked_sq_distances(a, b, slopes)
    return _sq_distances_plus(_features(a, slopes), _features(b, slopes), np.zeros(b.n))


def _sq_distances_plus(za: FloatArray, zb: FloatArray, offset: FloatArray) -> FloatArray:
    """|za_i - zb_j|^2 + offset_j, clipped at offset_j, as ONE matrix product.

    The squared norms and the offset ride along as extra columns, [za, |za|^2, 1] .
    [-2 zb, 1, |zb|^2 + offset], so no (len(a), len(b)) temporary is built for them: on a
    thousand-by-thousand block each elementwise pass costs about as much as the product.
    """
    sa = np.einsum("ij,ij->i", za, za)
    sb = np.einsum("ij,ij->i", zb, zb)
    left = np.concatenate([za, sa[:, None], np.ones((za.shape[0], 1))], axis=1)
    right = np.concatenate([-2.0 * zb, np.ones((zb.shape[0], 1)), (sb + offset)[:, None]], axis=1)
    out = left @ right.T
    np.maximum(out, offset[None, :], out=out)
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class UpperBound:
    """U(x) over `points` with values `y` (to be maximised), slopes K and noise terms sigma."""

    points: Points
    y: FloatArray
    slopes: FloatArray  # K, (n_dims,)
    noise: FloatArray  # sigma, (n,)
    active_pairs: IntArray  # (m, 2) binding (higher, lower) pairs, reused by the next fit

    def __call__(self, x: Points, chunk: int = 2048) -> FloatArray:
        """U at every row of x, vectorised over candidates and observations."""
        out = np.empty(x.n)
        if _masked(x, self.points):
            # Broadcast path: keep each block of candidates x observations x dims small.
            step = max(1, 2_000_000 // max(1, self.points.n * self.points.n_dims))
            for start in range(0, x.n, step):
                block = x.take(slice(start, start + step))
                dist = _masked_sq_distances(block, self.points, self.slopes)
                dist += self.noise[None, :]
                np.sqrt(dist, out=dist)
                dist += self.y[None, :]
                out[start : start + step] = dist.min(axis=1)
            return out
        zb = _features(self.points, self.slopes)
        for start in range(0, x.n, chunk):
            za = _features(x.take(slice(start, start + chunk)), self.slopes)
            dist = _sq_distances_plus(za, zb, self.noise)  # sigma_i + K.d(x, x_i)
            np.sqrt(dist, out=dist)
            dist += self.y[None, :]
            out[start : start + chunk] = dist.min(axis=1)
        return out

    def with_cones(self, extra: Points, values: FloatArray) -> UpperBound:
        """The bound with extra noise-free cones (pending points valued by a fantasy)."""
        return UpperBound(
            self.points.concat(extra),
            np.concatenate([self.y, values]),
            self.slopes,
            np.concatenate([self.noise, np.zeros(extra.n)]),
            self.active_pairs,
        )


def _solve_working_set(
    points: Points, y: FloatArray, pairs: IntArray, noise_penalty: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The least-distance QP restricted to `pairs`: returns (K, sigma per point, multipliers)."""
    hi, lo = pairs[:, 0], pairs[:, 1]
    dist = pair_distances(points.take(hi), points.take(lo))
    rhs = (y[hi] - y[lo]) ** 2
    lows, which = np.unique(lo, return_inverse=True)
    p = points.n_dims
    n_vars = p + lows.size
    # G z >= h with z = (K, sqrt(lambda) sigma): sigma enters each row scaled by 1/sqrt(lambda).
    g = np.zeros((pairs.shape[0], n_vars))
    g[:, :p] = dist
    g[np.arange(pairs.shape[0]), p + which] = 1.0 / np.sqrt(noise_penalty)
    e = np.vstack([g.T, rhs[None, :]])
    f = np.zeros(n_vars + 1)
    f[-1] = 1.0
    u, _ = nnls(e, f, maxiter=50 * e.shape[1])
    r = e @ u - f
    # r[-1] = h.u - 1 < 0 for a feasible problem (always: sigma can absorb any gap).
    z = -r[:-1] / r[-1]
    noise = np.zeros(points.n)
    noise[lows] = z[p:] / np.sqrt(noise_penalty)
    return np.maximum(z[:p], 0.0), np.maximum(noise, 0.0), u


def _residuals(
    points: Points,
    y: FloatArray,
    slopes: FloatArray,
    noise: FloatArray,
    hi: IntArray,
    lo: IntArray,
) -> FloatArray:
    """R[a, b] = K.d(x_hi[a], x_lo[b]) + sigma_lo[b] - (y_hi[a] - y_lo[b])^2 where y_hi > y_lo.

    Entries that are not constraints (y_hi <= y_lo) are +inf.
    """
    res = weighted_sq_distances(points.take(hi), points.take(lo), slopes)
    res += noise[lo][None, :]
    gap = y[hi][:, None] - y[lo][None, :]
    res -= gap**2
    res[gap <= 0.0] = np.inf
    return res


def _violated_pairs(
    points: Points,
    y: FloatArray,
    slopes: FloatArray,
    noise: FloatArray,
    tol: float,
    count: int,
    rows: IntArray | None = None,
) -> IntArray:
    """Up to `count` most violated (higher, lower) pairs with R < -tol.

    With `rows`, only pairs that involve those points are checked (O(n) each); otherwise all pairs,
    in blocks of rows sorted by decreasing y so that only the upper triangle (y_hi >= y_lo) is
    computed: about n^2/2 distances through BLAS.
    """
    if rows is not None:
        everyone = np.arange(points.n)
        blocks = [(rows, everyone), (everyone, rows)]
        values, his, los = [], [], []
        for hi, lo in blocks:
            res = _residuals(points, y, slopes, noise, hi, lo)
            r, c = np.nonzero(res < -tol)
            values.append(res[r, c])
            his.append(hi[r])
            los.append(lo[c])
        value = np.concatenate(values)
        pairs = np.stack([np.concatenate(his), np.concatenate(los)], axis=1)
    else:
        value, pairs = _all_violations(points, y, slopes, noise, tol)
    if value.size > count:
        pairs = pairs[np.argpartition(value, count - 1)[:count]]
    return pairs.astype(np.int64)


# Rows per block of the all-pairs scans. Rows go in order of decreasing y and a block only
# meets the columns from its own first row on, so smaller blocks skip more of the lower
# triangle (the pairs that are no constraint): 256 computes ~0.6 n^2 entries at n = 1000,
# against n^2 for one block.
_BLOCK = 256


def _all_violations(
    points: Points, y: FloatArray, slopes: FloatArray, noise: FloatArray, tol: float
) -> tuple[FloatArray, IntArray]:
    """Residuals < -tol over all pairs, and their (higher, lower) indices.

    Expanding the squares, R[h, l] = a_h + b_l - 2 (z_h.z_l - y_h y_l) with a = |z|^2 - y^2 and
    b = |z|^2 + sigma - y^2, all one matrix product: [z, y, a, 1] . [-2 z, 2 y, 1, b]. Rows
    go in order of decreasing y, so only the upper triangle (y_h >= y_l) is computed.
    """
    if points.active is not None:
        everyone = np.arange(points.n)
        res = _residuals(points, y, slopes, noise, everyone, everyone)
        r, c = np.nonzero(res < -tol)  # only y_hi > y_lo pairs are finite
        return res[r, c], np.stack([r, c], axis=1).astype(np.int64)
    order = np.argsort(-y, kind="stable")
    z = _features(points.take(order), slopes)
    ys = y[order]
    sq = np.einsum("ij,ij->i", z, z)
    ones = np.ones((points.n, 1))
    w = np.concatenate([z, ys[:, None], (sq - ys**2)[:, None], ones], axis=1)
    v = np.concatenate(
        [-2.0 * z, 2.0 * ys[:, None], ones, (sq + noise[order] - ys**2)[:, None]], axis=1
    )
    values, his, los = [], [], []
    for start in range(0, points.n, _BLOCK):
        stop = min(start + _BLOCK, points.n)
        res = w[start:stop] @ v[start:].T
        r, c = np.nonzero(res < -tol)
        # In the diagonal block, columns left of the diagonal have y >= the row's: not pairs.
        keep = c > r
        r, c = r[keep], c[keep]
        values.append(res[r, c])
        his.append(order[start + r])
        los.append(order[start + c])
    pairs = np.stack([np.concatenate(his), np.concatenate(los)], axis=1)
    return np.concatenate(values), pairs.astype(np.int64)


def _most_steep(points: Points, y: FloatArray, count: int) -> IntArray:
    """The `count` pairs of largest (y_h - y_l)^2 / |x_h - x_l|^2: a cold start's working set.

    Scanned in blocks of the upper triangle; a block's entries enter the running top `count`
    only above the current `count`-th best, so selection costs one comparison per entry.
    """
    if points.active is not None:
        return _most_steep_masked(points, y, count)
    order = np.argsort(-y, kind="stable")
    z = _features(points.take(order), np.ones(points.n_dims))
    ys = y[order]
    steep = np.zeros(0)
    pairs = np.zeros((0, 2), dtype=np.int64)
    below_diagonal = np.tril(np.ones((_BLOCK, _BLOCK), dtype=bool))
    for start in range(0, points.n, _BLOCK):
        stop = min(start + _BLOCK, points.n)
        ratio = _sq_distances_plus(z[start:stop], z[start:], np.zeros(points.n - start))
        np.maximum(ratio, 1e-12, out=ratio)
        gap = ys[start:stop, None] - ys[None, start:]  # >= 0: rows sorted by decreasing y
        np.square(gap, out=gap)
        np.divide(gap, ratio, out=ratio)
        k = stop - start
        ratio[:, :k][below_diagonal[:k, :k]] = 0.0  # not pairs (c <= r)
        # The count-th best overall is at least the count-th best so far, and at least the
        # count-th largest row maximum (those are count distinct entries): keep only entries
        # that reach both.
        floor = steep.min() if steep.size >= count else 0.0
        if k >= count:
            row_max = ratio.max(axis=1)
            floor = max(floor, float(np.partition(row_max, k - count)[k - count]))
        r, c = np.nonzero(ratio >= floor) if floor > 0.0 else np.nonzero(ratio > 0.0)
        steep = np.concatenate([steep, ratio[r, c]])
        pairs = np.concatenate([pairs, np.stack([order[start + r], order[start + c]], axis=1)])
        if steep.size > count:
            top = np.argpartition(-steep, count - 1)[:count]
            steep, pairs = steep[top], pairs[top]
    best = np.argsort(-steep, kind="stable")[:count]
    return pairs[best].astype(np.int64)


def _most_steep_masked(points: Points, y: FloatArray, count: int) -> IntArray:
    """`_most_steep` with the masked distance (all pairs at once: conditional histories are
    what one study holds, hundreds of points)."""
    dist = np.maximum(_masked_sq_distances(points, points, np.ones(points.n_dims)), 1e-12)
    gap = y[:, None] - y[None, :]
    ratio = np.where(gap > 0.0, gap**2 / dist, 0.0)
    hi, lo = np.nonzero(ratio > 0.0)
    best = np.argsort(-ratio[hi, lo], kind="stable")[:count]
    return np.stack([hi[best], lo[best]], axis=1).astype(np.int64)


def fit_upper_bound(
    points: Points,
    y: FloatArray,
    previous: UpperBound | None = None,
    noise_penalty: float = DEFAULT_NOISE_PENALTY,
    max_rounds: int = 100,
) -> UpperBound:
    """Fit K and sigma by the QP of the module docstring; y should be roughly standardised.

    `previous`, a fit on a prefix of these points (its y may differ by an affine map, as when
    the standardisation moves), only speeds the fit up: the loop runs until no pair is violated,
    so the answer is the same. When no slope and no noise term went down, pairs among the old
    points stay satisfied and only the pairs of the new points need checking.
    """
    n, p = points.n, points.n_dims
    empty = np.zeros((0, 2), dtype=np.int64)
    if n < 2 or np.ptp(y) == 0.0:
        return UpperBound(points, y, np.zeros(p), np.zeros(n), empty)
    # Violations below this are rounding (the Gram identity loses ~1e-16 |z|^2).
    tol = 1e-12 * float(np.ptp(y)) ** 2
    count = 2 * p + 2
    old_slopes, old_noise, n_old = np.zeros(p), np.zeros(0), 0
    work = empty
    if previous is not None and 2 <= previous.points.n < n and np.ptp(previous.y) > 0.0:
        n_old = previous.points.n
        # Express the previous fit in today's units: K and sigma scale with the square of y's.
        unit = (np.ptp(y[:n_old]) / np.ptp(previous.y)) ** 2
        old_slopes, old_noise = previous.slopes * unit, previous.noise * unit
        work = previous.active_pairs
        new_rows = np.arange(n_old, n)
        work = np.concatenate(
            [
                work,
                _violated_pairs(
                    points,
                    y,
                    old_slopes,
                    np.concatenate([old_noise, np.zeros(n - n_old)]),
                    tol,
                    4 * count,
                    new_rows,
                ),
            ]
        )
    if work.shape[0] == 0:
        n_old = 0
        work = _most_steep(points, y, count)
    slopes, noise, mult = _solve_working_set(points, y, work, noise_penalty)
    for _ in range(max_rounds):
        work = work[mult > 0.0]
        # Every old pair had slack >= -tol; it can lose at most the total drop of the K's
        # (each d_k <= 1) and of its sigma.
        drop = float(np.maximum(old_slopes - slopes, 0.0).sum())
        if n_old:
            drop += float(np.maximum(old_noise - noise[:n_old], 0.0).max())
        rows = np.arange(n_old, n) if n_old and drop <= tol else None
        new = _violated_pairs(points, y, slopes, noise, tol, count, rows)
        if new.shape[0] == 0:
            break
        grown = np.unique(np.concatenate([work, new]), axis=0)
        if grown.shape[0] == np.unique(work, axis=0).shape[0]:
            # Only pairs already in the working set are (barely) violated: the solver's own
            # precision, not a missing constraint. Re-solving the same set changes nothing, and
            # looping on it ran max_rounds of O(n^2) checks (seconds at 1000 points).
            break
        work = grown
        slopes, noise, mult = _solve_working_set(points, y, work, noise_penalty)
    return UpperBound(points, y, slopes, noise, work)
