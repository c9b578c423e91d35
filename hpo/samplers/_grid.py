"""Grid search over the space's grid (see `SearchSpace.grid_axes`), exactly once per point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from hpo.samplers._base import BaseSampler, Direction, Observation
from hpo.space import DEFAULT_GRID_CAP, Params, SearchSpace


class GridSampler(BaseSampler):
    """Visits every grid point once, in an order shuffled by the seed (so a grid cut short
    still covers the space evenly), never repeating a point that is completed (in any state:
    a failed point is not retried) or pending. `ask` returns fewer than n points, then none,
    once the grid is exhausted.

    The grid comes from each parameter's `grid: [...]`, `grid_points: k`, categorical choices,
    or every value of an int/stepped float; a continuous float without them is an error. The
    grid's size is checked against `cap` when the sampler is built, before anything runs.

    Options: `cap` (int, default 100_000), `shuffle` (bool, default True; False visits the
    grid in lexicographic order, the last parameter varying fastest).

    Conditional spaces (`when`): the grid is the active combinations only
    (`SearchSpace.iter_grid`), each visited once; `size` is their number, which is what the
    study reports as its grid. They are enumerated when the sampler is built (at most `cap`).

    Keeps one flag per grid point (completed or not), nothing per observation.
    """

    options_defaults: ClassVar[Mapping[str, Any]] = {"cap": DEFAULT_GRID_CAP, "shuffle": True}
    multi_objective: ClassVar[bool] = True  # it ignores the values
    keep_observations: ClassVar[bool] = False
    keep_arrays: ClassVar[bool] = False
    keep_keys: ClassVar[bool] = False

    def __init__(
        self,
        space: SearchSpace,
        *,
        direction: Direction = "minimize",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        **objectives: Any,  # directions, n_constraints: this sampler ignores the values
    ) -> None:
        super().__init__(space, direction=direction, seed=seed, options=options, **objectives)
        cap = int(self.options["cap"])
        self._axes = space.grid_axes(cap)
        self._shape = tuple(len(a) for a in self._axes)
        self._positions: list[dict[tuple[bool, object], int]] = [
            {(isinstance(v, bool), v): i for i, v in enumerate(axis)} for axis in self._axes
        ]
        # A conditional grid is not a product of axes: its points are listed, and found by
        # their names and values (an absent parameter is part of a point's identity).
        self._points: list[Params] | None = None
        self._lookup: dict[tuple[tuple[str, bool, object], ...], int] = {}
        if space.is_conditional:
            self._points = list(space.iter_grid(cap))
            self._lookup = {_point_key(p, space.names): i for i, p in enumerate(self._points)}
            total = len(self._points)
        else:
            total = int(np.prod(self._shape))
        if self.options["shuffle"]:
            self._order = np.random.default_rng(self.seed % 2**63).permutation(total)
        else:
            self._order = np.arange(total)
        self._done = np.zeros(total, dtype=bool)  # grid points completed (in any state)

    @property
    def size(self) -> int:
        """Number of grid points."""
        return len(self._order)

    def _index(self, params: Params) -> int | None:
        """The grid index of a configuration, or None when it is not a grid point."""
        if self._points is not None:
            return self._lookup.get(_point_key(params, self.space.names))
        idx = []
        for name, positions in zip(self.space.names, self._positions, strict=True):
            v = params.get(name)
            pos = positions.get((isinstance(v, bool), v))
            if pos is None:
                return None
            idx.append(pos)
        return int(np.ravel_multi_index(idx, self._shape))

    def _told(self, new: Sequence[Observation], fresh: bool) -> None:
        if fresh:
            self._done[:] = False
        for o in new:
            i = self._index(o.params)
            if i is not None:
                self._done[i] = True

    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        taken = self._done.copy()
        for p in self.pending:
            i = self._index(p)
            if i is not None:
                taken[i] = True
        chosen = self._order[~taken[self._order]][:n]
        if self._points is not None:
            return [dict(self._points[int(i)]) for i in chosen]
        out: list[Params] = []
        for flat in chosen:
            multi = np.unravel_index(int(flat), self._shape)
            out.append(
                {
                    name: axis[int(k)]
                    for name, axis, k in zip(self.space.names, self._axes, multi, strict=True)
                }
            )
        return out


def _point_key(params: Params, names: tuple[str, ...]) -> tuple[tuple[str, bool, object], ...]:
    """A grid point's identity in space order (whatever the order of the stored keys)."""
    return tuple((n, isinstance(params[n], bool), params[n]) for n in names if n in params)
