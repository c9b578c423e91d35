"""The option rules of the built-in samplers: each option's type and range, checked when a
sampler is built (`SamplerRegistry.create`), so a study whose options cannot work is refused
at creation with a message naming the option, instead of failing every later claim.

A sampler registered with `SamplerRegistry.with_sampler` has no rules here; its own
constructor checks its options (unknown names are refused by `BaseSampler` either way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpo.errors import ValidationError
from hpo.space import DEFAULT_GRID_CAP


@dataclass(frozen=True)
class Option:
    """One option's rule: its kind, an inclusive range for numbers, the allowed strings for a
    choice, and whether null (the sampler's own default) is allowed."""

    kind: Literal["int", "float", "bool", "choice"]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False

    def problem(self, value: object) -> str | None:
        """Why `value` breaks the rule, or None when it is fine."""
        if value is None:
            return None if self.nullable else f"must be {self._describe()}, not null"
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if self.kind == "choice":
            return None if value in self.choices else f"must be {self._describe()}, got {value!r}"
        if self.kind == "int" and not (isinstance(value, int) and is_number):
            return f"must be {self._describe()}, got {value!r}"
        if not is_number or not math.isfinite(float(value)):  # type: ignore[arg-type]
            return f"must be {self._describe()}, got {value!r}"
        number = float(value)  # type: ignore[arg-type]
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            return f"must be {self._describe()}, got {value!r}"
        return None

    def _describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        what = "an integer" if self.kind == "int" else "a number"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        text = f"{what} in [{low}, {high}]"
        return text + " or null" if self.nullable else text


_FLAG = Option("bool")
_STARTUP = Option("int", 0, 100_000)
# Below 100 the window would cut into what TPE's startup and "good" set need.
_HISTORY = Option("int", 100, 1_000_000, nullable=True)

# Ranges are what the samplers can use, not what is sensible: a range only refuses what
# would fail or hang (a negative count, a GP kept on 10**6 observations).
OPTION_RULES: Mapping[str, Mapping[str, Option]] = {
    "grid": {"cap": Option("int", 1, 10 * DEFAULT_GRID_CAP), "shuffle": _FLAG},
    "random": {},
    "qmc": {"qmc_type": Option("choice", choices=("sobol", "halton")), "scramble": _FLAG},
    "tpe": {
        "n_startup_trials": _STARTUP,
        "n_ei_candidates": Option("int", 1, 10_000),
        "multivariate": _FLAG,
        "constant_liar": _FLAG,
        "max_history": _HISTORY,
        "group": Option("bool", nullable=True),
    },
    "gp": {
        "n_startup_trials": _STARTUP,
        "deterministic_objective": _FLAG,
        "max_observations": Option("int", 0, 5_000),
        "max_history": _HISTORY,
    },
    "cmaes": {
        "n_startup_trials": _STARTUP,
        "sigma0": Option("float", 1e-12, 1e12, nullable=True),
        "popsize": Option("int", 2, 10_000, nullable=True),
        "use_separable_cma": _FLAG,
        "with_margin": _FLAG,
        "max_history": _HISTORY,
    },
    "nsga2": {
        "population_size": Option("int", 2, 100_000),
        "mutation_prob": Option("float", 0, 1, nullable=True),
        "crossover_prob": Option("float", 0, 1),
        "swapping_prob": Option("float", 0, 1),
    },
    "lipo": {
        "n_candidates": Option("int", 1, 100_000),
        "random_probability": Option("float", 0, 1),
        "trust_region_every": Option("int", 1, 10_000),
        "max_history": _HISTORY,
    },
}


def check_options(sampler: str, options: Mapping[str, Any] | None) -> None:
    """Raise ValidationError naming the first unknown or invalid option of a built-in
    sampler (a sampler without rules passes: its constructor checks)."""
    rules = OPTION_RULES.get(sampler)
    if rules is None or not options:
        return
    valid = ", ".join(sorted(rules)) or "none (this sampler has no options)"
    for name, value in options.items():
        rule = rules.get(name)
        if rule is None:
            raise ValidationError(f"unknown option {str(name)[:60]!r}: valid options are {valid}")
        problem = rule.problem(value)
        if problem is not None:
            raise ValidationError(f"option {name} {problem}")
