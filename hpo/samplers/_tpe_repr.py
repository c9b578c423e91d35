"""TPE's internal representation of the history, computed once per trial instead of per ask.

Optuna's TPE turns every trial's parameters into its internal representation (floats, category
indices) at every ask, twice (the "below" and "above" groups): a Python loop over trials x
parameters that was a third of an ask at 1 000 results (bench/sampler_pending.py, issue 12).
The adapter keeps its trials between asks (`ScratchStorage`), so the same `FrozenTrial`
objects come back ask after ask and their rows can be kept. A row is keyed by the trial
object's identity and checked against its state (a RUNNING trial of a multivariate TPE may gain
parameters until it finishes, so a row is reused only for the state it was made in); the cache
holds the trial itself, so an id cannot be reused while its row is kept. `trim` drops rows of
trials the study no longer has, so the cache grows with results, not with asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

# (the trial, the state its row was made in, the row or None when a parameter is missing)
_Entry = tuple[FrozenTrial, TrialState, tuple[float, ...] | None]


class InternalReprCache:
    """Rows of internal representations, per parameter-name tuple, per trial object."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, ...], dict[int, _Entry]] = {}

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def columns(
        self,
        trials: Iterable[FrozenTrial],
        search_space: Mapping[str, BaseDistribution],
        params_of: Callable[[FrozenTrial], Mapping[str, Any]],
    ) -> dict[str, np.ndarray]:
        """What Optuna's `TPESampler._get_internal_repr` returns: per parameter, the internal
        values of the trials that have every parameter of `search_space`, in trial order."""
        names = tuple(search_space)
        dists = tuple(search_space.values())
        rows = self._rows.setdefault(names, {})
        kept: list[tuple[float, ...]] = []
        for trial in trials:
            entry = rows.get(id(trial))
            if entry is None or entry[0] is not trial or entry[1] is not trial.state:
                params = params_of(trial)
                row = (
                    tuple(d.to_internal_repr(params[n]) for n, d in zip(names, dists, strict=True))
                    if search_space.keys() <= params.keys()
                    else None
                )
                entry = (trial, trial.state, row)
                rows[id(trial)] = entry
            if entry[2] is not None:
                kept.append(entry[2])
        if not kept:
            return {name: np.asarray([]) for name in names}
        # Column by column from Python values, as Optuna builds them (ints stay int64).
        return {
            name: np.asarray(column)
            for name, column in zip(names, zip(*kept, strict=True), strict=True)
        }

    def trim(self, trials: Sequence[FrozenTrial]) -> None:
        """Drop the rows of trials not in `trials` (the study's trials now), once the rows
        outnumber them (one set of rows per parameter-name tuple): after an ask whose pending
        configurations changed. A pass over ids, tens of microseconds at 1 000 trials."""
        if len(self) > len(self._rows) * len(trials):
            self.prune(trials)

    def prune(self, trials: Iterable[FrozenTrial]) -> None:
        """Keep only the rows of `trials`."""
        alive = {id(t) for t in trials}
        for names, rows in list(self._rows.items()):
            self._rows[names] = {k: e for k, e in rows.items() if k in alive}
