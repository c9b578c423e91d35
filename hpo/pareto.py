"""Several objectives: the non-dominated front, hypervolume and the knee, as pure numpy.

Everything here works on *losses*: an (n, k) array where every column is to be minimized
(maximized objectives negated first, `to_losses`). The service, `hpo.optimize`, the
comparisons and the benchmarks call these functions; the samplers do not (Optuna has its own,
LIPO scalarizes, `hpo.samplers.lipo`).

- `pareto_mask(losses)`: which rows no other row dominates (a dominates b: a <= b in every
  column and a < b in one). Equal rows do not dominate each other: both stay.
- `hypervolume(losses, reference)`: the volume dominated by the rows and bounded by the
  reference point (rows not strictly better than the reference in every column add nothing).
  Exact: a sweep in two dimensions, slicing along the last column above (fine for the tens to
  hundreds of points a study's front holds).
- `knee_index(losses)`: the front's point nearest the ideal point once every column is scaled
  to [0, 1] over the front (the "best compromise"); ties go to the lower index.
- `hypervolume_reference(losses)`: the worst observed value of each column, pushed out by a
  tenth of the column's range so that the extreme points still count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def to_losses(values: Any, directions: Sequence[str]) -> FloatArray:
    """Objective values (n, k) in their own directions -> losses to minimize (a copy)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1, len(directions))
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(arr * signs, dtype=np.float64)


def pareto_mask(losses: Any) -> npt.NDArray[np.bool_]:
    """True for the rows of `losses` (n, k; minimized) that no other row dominates."""
    y = np.asarray(losses, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"losses must be a 2-D array (n, k), got shape {y.shape}")
    n = y.shape[0]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if not keep[i]:
            continue
        # Rows that row i dominates leave the front; row i leaves if any kept row dominates it.
        le = np.all(y[i] <= y, axis=1)
        lt = np.any(y[i] < y, axis=1)
        keep &= ~(le & lt)
        ge = np.all(y <= y[i], axis=1) & np.any(y < y[i], axis=1)
        if np.any(ge & keep):
            keep[i] = False
    return keep


def pareto_front_indices(losses: Any) -> list[int]:
    """Indices of the non-dominated rows, sorted by the first column (then the others)."""
    y = np.asarray(losses, dtype=np.float64)
    idx = np.flatnonzero(pareto_mask(y))
    order = np.lexsort(tuple(y[idx, c] for c in reversed(range(y.shape[1]))))
    return [int(i) for i in idx[order]]


def hypervolume(losses: Any, reference: Any) -> float:
    """The volume dominated by `losses` (n, k; minimized) and bounded by `reference` (k,)."""
    y = np.asarray(losses, dtype=np.float64).reshape(-1, np.size(reference))
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"the reference point must be finite, got {ref.tolist()}")
    y = y[np.all(np.isfinite(y), axis=1) & np.all(y < ref, axis=1)]
    if y.shape[0] == 0:
        return 0.0
    y = y[pareto_mask(y)]
    return float(_hv(y, ref))


def _hv(y: FloatArray, ref: FloatArray) -> float:
    k = y.shape[1]
    if k == 1:
        return float(ref[0] - np.min(y[:, 0]))
    if k == 2:
        pts = y[np.argsort(y[:, 0], kind="stable")]
        total, best_second = 0.0, float(ref[1])
        for x0, x1 in pts:
            if x1 < best_second:
                total += (ref[0] - x0) * (best_second - x1)
                best_second = float(x1)
        return total
    # Slice along the last column: between consecutive values of it, the dominated region's
    # cross-section is the (k-1)-dimensional volume of the points at or below the slice.
    pts = y[np.argsort(y[:, -1], kind="stable")]
    total = 0.0
    for i in range(pts.shape[0]):
        upper = pts[i + 1, -1] if i + 1 < pts.shape[0] else ref[-1]
        thickness = float(upper - pts[i, -1])
        if thickness > 0:
            head = pts[: i + 1, :-1]
            total += thickness * _hv(head[pareto_mask(head)], ref[:-1])
    return total


def hypervolume_reference(losses: Any) -> FloatArray:
    """A reference point from observed losses: each column's worst, plus a tenth of its range
    (1e-9 relative when the column is constant), so the extreme front points count."""
    y = np.asarray(losses, dtype=np.float64)
    y = y[np.all(np.isfinite(y), axis=1)]
    if y.shape[0] == 0:
        raise ValueError("no finite losses to take a reference point from")
    worst, best = y.max(axis=0), y.min(axis=0)
    span = worst - best
    pad = np.where(span > 0, 0.1 * span, np.maximum(np.abs(worst), 1.0) * 1e-9)
    return np.asarray(worst + pad, dtype=np.float64)


def hypervolume_history(losses: Any, reference: Any) -> list[float]:
    """Hypervolume of the first 1, 2, ..., n rows (NaN rows, e.g. failures, add nothing)."""
    y = np.asarray(losses, dtype=np.float64)
    out: list[float] = []
    front = np.zeros((0, y.shape[1]))
    current = 0.0
    for row in y:
        if np.all(np.isfinite(row)) and not np.any(
            np.all(front <= row, axis=1) & np.any(front < row, axis=1)
        ):
            front = np.vstack([front, row])
            front = front[pareto_mask(front)]
            current = hypervolume(front, reference)
        out.append(current)
    return out


def knee_index(losses: Any) -> int:
    """Index (into `losses`) of the front point nearest the ideal point after scaling every
    column to [0, 1] over the front; constant columns count as 0."""
    y = np.asarray(losses, dtype=np.float64)
    front = np.flatnonzero(pareto_mask(y))
    if front.size == 0:
        raise ValueError("no points to choose a knee from")
    f = y[front]
    low, span = f.min(axis=0), f.max(axis=0) - f.min(axis=0)
    scaled = np.where(span > 0, (f - low) / np.where(span > 0, span, 1.0), 0.0)
    return int(front[int(np.argmin(np.linalg.norm(scaled, axis=1)))])
