"""Quasi-random search: a scrambled Sobol (or Halton) sequence in the unit cube."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy.stats import qmc

from hpo.errors import ValidationError
from hpo.samplers._base import BaseSampler, Direction, Observation
from hpo.space import Params, SearchSpace


class QMCSampler(BaseSampler):
    """Low-discrepancy points: covers the space more evenly than random search for the same
    budget. The i-th suggestion of a study is point i of one sequence scrambled by the seed,
    where i counts completed and pending trials, so a sampler rebuilt from history continues
    the sequence. Points that decode to an already taken configuration (small discrete spaces)
    are skipped.

    Options: `qmc_type` ("sobol", default, or "halton"), `scramble` (bool, default True).

    Keeps, like random search, nothing per observation but the hashes of completed
    configurations in a finite space.
    """

    options_defaults: ClassVar[Mapping[str, Any]] = {"qmc_type": "sobol", "scramble": True}
    multi_objective: ClassVar[bool] = True  # it ignores the values
    keep_observations: ClassVar[bool] = False
    keep_arrays: ClassVar[bool] = False

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
        if self.options["qmc_type"] not in ("sobol", "halton"):
            raise ValidationError(
                f"qmc_type must be sobol or halton, got {self.options['qmc_type']!r}"
            )
        self._handed_out = 0
        self._cached: qmc.QMCEngine | None = None
        self._cached_pos = 0

    def _told(self, new: Sequence[Observation], fresh: bool) -> None:
        self._handed_out = 0

    def _engine_at(self, start: int) -> qmc.QMCEngine:
        """The sequence positioned at point `start`; reused across asks when it is already
        there (building a scrambled engine costs more than a draw)."""
        if self._cached is None or self._cached_pos > start:
            cls = qmc.Sobol if self.options["qmc_type"] == "sobol" else qmc.Halton
            seed = self.seed % 2**63
            engine = cls(d=self.space.dim, scramble=bool(self.options["scramble"]), seed=seed)
            self._cached, self._cached_pos = engine, 0
        if start > self._cached_pos:
            self._cached.fast_forward(start - self._cached_pos)
            self._cached_pos = start
        return self._cached

    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        start = self.n_completed + len(self.pending) + self._handed_out
        engine = self._engine_at(start)
        taken = self.taken_keys()

        def propose() -> Params:
            self._handed_out += 1
            self._cached_pos += 1
            with warnings.catch_warnings():
                # Sobol warns when a draw is not a power of 2; we draw one point at a time.
                warnings.simplefilter("ignore", UserWarning)
                point = engine.random(1)[0]
            return self.space.decode(point)

        return self.fill_distinct(n, propose, taken, max_tries=20)
