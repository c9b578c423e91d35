"""Random search: uniform in the unit cube (log-uniform for log parameters), distinct draws."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from hpo.samplers._base import BaseSampler
from hpo.space import Params


class RandomSampler(BaseSampler):
    """Independent uniform draws; never repeats a pending, completed or same-batch config
    while the space has room. No options.

    Ignores the history's values: keeps nothing per observation but, in a finite space, a
    hash of each completed configuration (to skip it)."""

    multi_objective: ClassVar[bool] = True  # it ignores the values
    keep_observations: ClassVar[bool] = False
    keep_arrays: ClassVar[bool] = False

    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        taken = self.taken_keys()
        return self.fill_distinct(n, lambda: self.space.sample(rng, 1)[0], taken)
