"""The comparison spec: several samplers on one task, space and budget, each repeated over
seeds (the body of `POST /api/v1/comparisons` and of `hpo compare FILE.yaml`)::

    name: mlp-mnist1d-samplers
    task: {model: mlp, dataset: mnist1d, epochs: 5, metric: val_accuracy}
    space: {lr: {type: float, low: 1.0e-4, high: 3.0e-2, log: true, grid_points: 4}, ...}
    fixed: {optimizer: adam}
    samplers: [grid, random, tpe, {name: lipo, options: {}}]
    n_trials: 20          # per study
    repeats: 3            # seeds per sampler
    seed: 0               # study seeds are seed, seed+1, ..., seed+repeats-1
    pruner: none
    max_parallel: 2       # per study

`parse_comparison_spec(mapping)` validates every study it will create (so a grid over a
continuous float is refused before anything is stored) and returns a frozen `ComparisonSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import Field, field_validator, model_validator

from hpo.errors import HpoError, ValidationError
from hpo.objectives import ConstraintSpec, ObjectiveSpec
from hpo.samplers import check_options
from hpo.space import space_from_dict
from hpo.spec import (
    MAX_ATTEMPTS,
    MAX_PARALLEL,
    MAX_TRIALS,
    FixedField,
    PrunerSpec,
    SamplerSpec,
    SpaceField,
    StudySpec,
    TaskSpec,
    _Frozen,
    _merge,
    check_trainable,
    describe_validation_error,
    parse_study_spec,
    pruner_shorthand,
    validated_space,
)

# A comparison creates samplers x repeats studies; this keeps a typo (repeats: 300) from
# flooding the study list. Raise it here if a real comparison needs more.
MAX_REPEATS = 50


@dataclass(frozen=True)
class ComparisonCell:
    """One study of a comparison: a sampler (by its name) and a seed."""

    sampler: str
    seed: int
    spec: StudySpec


class ComparisonSpec(_Frozen):
    name: str = Field(default="comparison", min_length=1, max_length=150)
    task: TaskSpec
    space: SpaceField
    fixed: FixedField = Field(default_factory=dict)
    samplers: list[SamplerSpec] = Field(min_length=1, max_length=20)
    n_trials: int = Field(ge=1, le=MAX_TRIALS)
    repeats: int = Field(default=3, ge=1, le=MAX_REPEATS)
    seed: int = Field(default=0, ge=0, le=2**31 - 1 - MAX_REPEATS)
    # Overrides the direction inferred from the task's metric, like task.direction.
    direction: Literal["minimize", "maximize"] | None = None
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    max_parallel: int = Field(default=4, ge=1, le=MAX_PARALLEL)
    max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS)
    # As in a study spec: false skips the check against the built-in trainers.
    check_config: bool = Field(default=True, strict=True)
    # As in a study spec (hpo/objectives.py): several objectives rank the samplers by the
    # hypervolume of their fronts; constraints make trials infeasible.
    objectives: tuple[ObjectiveSpec, ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()

    @field_validator("samplers", mode="before")
    @classmethod
    def _sampler_shorthand(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_shorthand(cls, value: object) -> object:
        return pruner_shorthand(value)

    @field_validator("space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return validated_space(space)

    @model_validator(mode="after")
    def _consistent(self) -> ComparisonSpec:
        if self.direction is not None and self.direction != self.task.direction:
            # One place for the direction from here on: the task, as in a study spec.
            task = self.task.model_copy(update={"direction": self.direction})
            object.__setattr__(self, "task", task)
        for sampler in self.samplers:
            # Each sampler's options against its rules (types, ranges), before the studies
            # are expanded; `cells()` then builds every sampler on the space.
            try:
                check_options(sampler.name, sampler.options)
            except HpoError as e:
                raise ValueError(f"sampler {sampler.name}: {e}") from e
        names = [s.name for s in self.samplers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            # Curves and the ranking are keyed by sampler name.
            raise ValueError(f"{', '.join(twice)} is listed more than once: give each sampler once")
        if self.check_config:
            check_trainable(self.task, space_from_dict(self.space), self.fixed, self.seed)
        return self

    @property
    def sampler_names(self) -> list[str]:
        return [s.name for s in self.samplers]

    @property
    def metric(self) -> str:
        return self.task.metric

    @property
    def study_direction(self) -> Literal["minimize", "maximize"]:
        # The validator folds `direction` into the task; the fallback only satisfies the type.
        return self.task.direction or "maximize"

    def cells(self) -> list[ComparisonCell]:
        """Every study to create, sampler-major: each one validated as a study spec."""
        task = self.task.model_dump(mode="json")
        task["direction"] = self.study_direction
        cells = []
        for sampler in self.samplers:
            for repeat in range(self.repeats):
                seed = self.seed + repeat
                study = {
                    "name": f"{self.name}/{sampler.name}/seed{seed}"[:200],
                    "task": task,
                    "space": self.space,
                    "fixed": self.fixed,
                    "sampler": sampler.model_dump(mode="json"),
                    "pruner": self.pruner.model_dump(mode="json"),
                    "budget": {
                        "n_trials": self.n_trials,
                        "max_parallel": self.max_parallel,
                        "max_attempts": self.max_attempts,
                    },
                    "seed": seed,
                    "check_config": self.check_config,
                    "objectives": [o.model_dump(mode="json") for o in self.objectives],
                    "constraints": [c.model_dump(mode="json") for c in self.constraints],
                }
                try:
                    spec = parse_study_spec(study)
                except ValidationError as e:
                    message = str(e).removeprefix("invalid study spec: ")
                    raise ValidationError(
                        f"invalid comparison: sampler {sampler.name}: {message}"
                    ) from None
                cells.append(ComparisonCell(sampler.name, seed, spec))
        return cells

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_comparison_spec(
    data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None
) -> ComparisonSpec:
    """Validate a comparison spec, and every study spec it expands into. `overrides` (the
    CLI's --samplers/--trials/--repeats) are applied on top; nested dicts merge."""
    merged = _merge(dict(data), dict(overrides or {}))
    try:
        spec = ComparisonSpec.model_validate(merged)
    except pydantic.ValidationError as e:
        message = describe_validation_error(e).removeprefix("invalid study spec: ")
        raise ValidationError(f"invalid comparison: {message}") from e
    spec.cells()  # raises for a study that could not be created (e.g. grid on a float)
    return spec
