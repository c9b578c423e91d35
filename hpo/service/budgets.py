"""Caps on what one request may book: trials per study, studies per comparison.

A study's budget is its cost: a comparison's view walks every member study's curve, and a
budget of a million trials made creating and reading one take seconds. The caps are settings
(`HPO_MAX_TRIALS_PER_STUDY`, `HPO_MAX_STUDIES_PER_COMPARISON`); past them the request is
refused with a 422 that names the setting, before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.comparison_spec import ComparisonSpec
from hpo.errors import LimitError


@dataclass(frozen=True)
class BudgetLimits:
    max_trials_per_study: int = 100_000
    max_studies_per_comparison: int = 100

    def check_trials(self, n_trials: int, what: str = "n_trials") -> None:
        if n_trials > self.max_trials_per_study:
            raise LimitError(
                f"{what}={n_trials} is above this server's cap of {self.max_trials_per_study} "
                "trials per study (HPO_MAX_TRIALS_PER_STUDY): ask for fewer"
            )

    def check_comparison(self, spec: ComparisonSpec) -> None:
        self.check_trials(spec.n_trials)
        studies = len(spec.samplers) * spec.repeats
        if studies > self.max_studies_per_comparison:
            raise LimitError(
                f"the comparison would create {studies} studies ({len(spec.samplers)} samplers "
                f"x {spec.repeats} repeats), above this server's cap of "
                f"{self.max_studies_per_comparison} (HPO_MAX_STUDIES_PER_COMPARISON): use "
                "fewer samplers or repeats"
            )
