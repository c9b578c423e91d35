"""Which observations a model-based sampler fits on: at most `max_history` of them.

Every model the service runs costs at least linear time per ask in the observations it fits
(TPE's Parzen mixtures, CMA-ES's replay, LIPO's bound), so an unbounded history makes a
study's dispatch slower with every result: over a 5-minute run with 32 workers, thousands of
trials (issue 12). Past `max_history` observations the model sees:

- the best `keep_best` observations of the older part (the good region never leaves the
  model: TPE's "good" set is the best min(10 %, 25) trials, LIPO's trust region is built at
  the best point), and
- every observation from `cut` on (the recent part, where the search is now).

`cut` moves in steps of a quarter window, not with every result, so between steps the
window only grows at its end: the samplers' incremental paths (extend the Optuna study,
warm-start the LIPO bound from the previous fit) stay valid, and the rebuild a step costs
is paid once per `max_history / 4` results. A study of up to `max_history` observations
(default 1000: nearly every study) is fitted on all of them, exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpo.errors import ValidationError
from hpo.space._params import FloatArray

__all__ = ["DEFAULT_MAX_HISTORY", "KEEP_BEST", "HistoryWindow", "window_option"]

DEFAULT_MAX_HISTORY = 1000
KEEP_BEST = 50  # > Optuna TPE's largest "good" set (25), and a margin for ties and failures


@dataclass(frozen=True)
class HistoryWindow:
    max_history: int | None  # None: no window, fit on everything
    keep_best: int = KEEP_BEST

    def cut(self, n: int) -> int:
        """Observations [0, cut) are the older part (0: no window yet)."""
        if self.max_history is None or n <= self.max_history:
            return 0
        step = max(1, self.max_history // 4)
        return ((n - self.max_history) // step + 1) * step

    def rows(self, signed_losses: FloatArray, valued: np.ndarray) -> np.ndarray:
        """Indices (ascending, so evaluation order is kept) of the observations to fit on.
        `signed_losses` are values to minimize; `valued` marks the ones with a real value
        (only those can be among the best kept of the older part)."""
        n = len(signed_losses)
        cut = self.cut(n)
        if cut == 0:
            return np.arange(n)
        old = np.flatnonzero(valued[:cut])
        best = old[np.argsort(signed_losses[old], kind="stable")[: self.keep_best]]
        return np.concatenate([np.sort(best), np.arange(cut, n)])


def window_option(value: object) -> HistoryWindow:
    """The window of a `max_history` option (checked here too, for samplers built directly
    rather than through the registry's option rules)."""
    if value is None:
        return HistoryWindow(None)
    if not isinstance(value, int) or isinstance(value, bool) or value < 100:
        raise ValidationError(
            f"max_history must be an integer >= 100 or null (no window), got {value!r}"
        )
    return HistoryWindow(value)
