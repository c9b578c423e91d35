"""The study spec: what a user submits to create a study (REST body, YAML file, CLI).

One schema for every entry point, so the API, `hpo study create FILE.yaml` and comparisons
reject the same mistakes with the same messages. Shape (see shared/DESIGN.md)::

    name: mlp-mnist1d
    task: {model: mlp, dataset: mnist1d, epochs: 20, metric: val_accuracy, direction: maximize}
    space: {lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}, ...}
    fixed: {optimizer: adam}
    sampler: {name: tpe, options: {}}     # or just `sampler: tpe`
    pruner: {name: asha, options: {}}     # or `pruner: none`
    budget: {n_trials: 50, max_parallel: 8, max_attempts: 3}   # also max_seconds,
                                            # max_trial_seconds, target (see BudgetSpec)
    resources: {pool: a100, gpus_per_trial: 1}   # optional; pool `default` by default
    seed: 0

`parse_study_spec(mapping)` validates and returns a frozen `StudySpec`, or raises
`hpo.errors.ValidationError` whose message names every bad field and what is allowed.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpo.command_spec import CommandTaskSpec, check_placeholders
from hpo.errors import HpoError, ValidationError
from hpo.jsonlimits import JSON_LIMITS, BoundedJsonObject
from hpo.objectives import TRAINER_METRICS, ConstraintSpec, ObjectiveSpec, check_objectives
from hpo.pools import DEFAULT_POOL, POOL_NAME_MAX, check_pool_name
from hpo.samplers import default_registry
from hpo.space import DEFAULT_GRID_CAP, SearchSpace, space_from_dict
from hpo.trainable import check_spec

MODELS = ("mlp", "cnn")
METRICS = ("val_accuracy", "val_loss")
PRUNERS = ("none", "median", "asha")
# Bounds that keep a typo from booking a GPU for a year; raise them by changing these numbers.
MAX_EPOCHS = 10_000
MAX_TRIALS = 1_000_000
MAX_PARALLEL = 4_096
MAX_ATTEMPTS = 20
MAX_CONFIG_ERRORS = 1_000
MAX_GPUS_PER_TRIAL = 64
MAX_WARM_START_STUDIES = 100
# A year of summed training time, and a week for one trial: larger is a typo.
MAX_BUDGET_SECONDS = 365 * 24 * 3600.0
MAX_TRIAL_SECONDS = 7 * 24 * 3600.0

Scalar = str | int | float | bool
# The free parts of a spec, each bounded by hpo.jsonlimits before its own validation.
SpaceField = Annotated[dict[str, dict[str, Any]], JSON_LIMITS]
FixedField = Annotated[dict[str, Scalar], JSON_LIMITS]


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key (`n_trial`) is an error, not silently ignored.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TaskSpec(_Frozen):
    """What to train and how to score it. Trainers and datasets come from a registry on the
    workers: the server never runs user code, and a user dataset is a path workers read.
    A task that runs the user's own program is a `CommandTaskSpec` (hpo.command_spec)."""

    # Not stored (exclude): a built-in task is what every spec without a kind means, and the
    # trainers' config check refuses keys it does not know.
    kind: Literal["builtin"] = Field(default="builtin", exclude=True)
    model: Literal["mlp", "cnn"]
    dataset: str = Field(min_length=1, max_length=1024)
    epochs: int = Field(default=10, ge=1, le=MAX_EPOCHS, strict=True)
    metric: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    # None: inferred from the metric (accuracy is maximized, loss minimized).
    direction: Literal["minimize", "maximize"] | None = None

    @model_validator(mode="after")
    def _infer_direction(self) -> TaskSpec:
        if self.direction is None:
            inferred = "minimize" if self.metric.endswith("loss") else "maximize"
            object.__setattr__(self, "direction", inferred)
        return self


class SamplerSpec(_Frozen):
    name: str = "tpe"
    options: BoundedJsonObject = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known_sampler(cls, name: str) -> str:
        valid = default_registry().registered_names()
        if name not in valid:
            raise ValueError(f"unknown sampler {name!r}: use one of {', '.join(valid)}")
        return name


class PrunerSpec(_Frozen):
    name: Literal["none", "median", "asha"] = "none"
    options: BoundedJsonObject = Field(default_factory=dict)


class BudgetSpec(_Frozen):
    # strict: `n_trials: true` is a mistake, not one trial.
    n_trials: int = Field(default=20, ge=1, le=MAX_TRIALS, strict=True)
    max_parallel: int = Field(default=4, ge=1, le=MAX_PARALLEL, strict=True)
    max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS, strict=True)
    # Pause the study after this many trials in a row fail as config errors (hpo/service/
    # failures.py): the rest would most likely fail the same way.
    max_config_errors: int = Field(default=3, ge=1, le=MAX_CONFIG_ERRORS, strict=True)
    # Budgets in time and quality (hpo/service/stopping.py), each off when null:
    # `max_seconds` of summed training time (finished trials' durations plus the running
    # ones'), after which no trial starts and the study completes once the running ones end;
    # `max_trial_seconds` for one trial, past which it fails as `timeout`; `target` completes
    # the study when a completed trial reaches it (>= when maximizing, <= when minimizing).
    max_seconds: float | None = Field(default=None, gt=0, le=MAX_BUDGET_SECONDS, strict=True)
    max_trial_seconds: float | None = Field(default=None, gt=0, le=MAX_TRIAL_SECONDS, strict=True)
    target: float | None = Field(default=None, strict=True)


class ResourcesSpec(_Frozen):
    """Where a study's trials train: the worker pool (`hpo worker --pool NAME`, hpo.pools)
    and the GPUs one trial needs (what a deployment requests per worker; each worker slot
    trains on one device)."""

    pool: str = Field(default=DEFAULT_POOL, max_length=POOL_NAME_MAX)
    gpus_per_trial: int = Field(default=1, ge=0, le=MAX_GPUS_PER_TRIAL, strict=True)

    @field_validator("gpus_per_trial")
    @classmethod
    def _one_device(cls, gpus: int) -> int:
        # A worker slot trains on one device; accepting 2 would train on one and say two.
        if gpus > 1:
            raise ValueError(
                f"gpus_per_trial is {gpus}: a trial trains on one device (each worker slot has "
                "one GPU, `hpo worker --slots-per-device` packs several trials on one); use 0 "
                "(CPU) or 1"
            )
        return gpus

    @field_validator("pool")
    @classmethod
    def _pool_name(cls, pool: str) -> str:
        try:
            return check_pool_name(pool, field="resources.pool")
        except HpoError as e:
            raise ValueError(str(e)) from e


def check_trainable(
    task: TaskSpec, space: SearchSpace, fixed: Mapping[str, Any], seed: int = 0
) -> None:
    """The trainers' own config check over a spec (hpo/trainable.py), as a validator error."""
    try:
        check_spec(task.model_dump(mode="json"), space, fixed, seed)
    except HpoError as e:
        raise ValueError(str(e)) from e


def pruner_shorthand(value: object) -> object:
    """`pruner: asha` (or nothing) in a spec means `{name: asha}` (or `{name: none}`)."""
    if value is None:
        return {"name": "none"}
    return {"name": value} if isinstance(value, str) else value


def validated_space(space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A spec's search space, checked (names, domains, bounds) and in canonical form; shared by
    study and comparison specs so both refuse the same spaces with the same messages."""
    for key in space:
        _check_name(key, f"parameter name {key[:40]!r}")
    try:
        valid = space_from_dict(space).to_dict()
    except HpoError as e:
        raise ValueError(str(e)) from e
    for key, domain in valid.items():
        _check_bounds(key, domain)
    return valid


class WarmStartSpec(_Frozen):
    """Seed a new study's samplers with the completed trials of earlier studies (those whose
    params fit its space), as imported trials: history, not budget."""

    # Ids fit the id column (32-bit): a larger one is no study, and some drivers refuse it.
    from_studies: list[Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]] = Field(
        min_length=1, max_length=MAX_WARM_START_STUDIES
    )


class StudySpec(_Frozen):
    """A validated study spec. `space` stays the plain mapping (JSON-able); `search_space()`
    gives the typed `SearchSpace`."""

    name: str = Field(min_length=1, max_length=200)
    task: TaskSpec | CommandTaskSpec
    space: SpaceField
    fixed: FixedField = Field(default_factory=dict)
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    seed: int = Field(default=0, ge=0, le=2**31 - 1, strict=True)
    # Several objectives (hpo/objectives.py); empty: the task's metric alone.
    objectives: tuple[ObjectiveSpec, ...] = ()
    constraints: tuple[ConstraintSpec, ...] = ()
    # Ask for a per-study client token (ask, tell, report, heartbeat for this study only): an
    # instruction to the creation, answered once with the token, not part of the stored spec.
    client_token: bool = Field(default=False, strict=True)
    # Check the task, fixed params and every value of the space against the built-in trainers
    # (hpo/trainable.py). false: the trials are trained by your own code (ask/tell) and the
    # params are its own.
    check_config: bool = Field(default=True, strict=True)
    # An instruction to the creation, like client_token: done once, not part of the stored spec.
    warm_start: WarmStartSpec | None = None

    @field_validator("name")
    @classmethod
    def _printable_name(cls, name: str) -> str:
        return _check_name(name, "name")

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_shorthand(cls, value: object) -> object:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("task", mode="wrap")
    @classmethod
    def _task_of_its_kind(
        cls, value: object, handler: pydantic.ValidatorFunctionWrapHandler
    ) -> object:
        # One model per kind, picked by `kind`: the errors then name the task's own fields
        # (task.metric), not the members of a union.
        if isinstance(value, Mapping):
            if value.get("kind") == "command":
                return CommandTaskSpec.model_validate(value)
            return TaskSpec.model_validate(value)
        return handler(value)

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_shorthand(cls, value: object) -> object:
        return pruner_shorthand(value)

    @field_validator("space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return validated_space(space)

    @model_validator(mode="after")
    def _consistent(self) -> StudySpec:
        both = sorted(set(self.space) & set(self.fixed))
        if both:
            raise ValueError(
                f"{', '.join(both)} is both searched (space) and fixed: remove it from one"
            )
        check_objectives(
            self.objectives,
            self.constraints,
            # A command task's metrics are its script's: nothing to check them against.
            known_metrics=TRAINER_METRICS
            if self.check_config and not isinstance(self.task, CommandTaskSpec)
            else None,
        )
        if len(self.objectives) > 1 and self.pruner.name != "none":
            raise ValueError(
                f"pruner {self.pruner.name} compares one value per step and cannot prune on "
                "several objectives: use pruner: none"
            )
        first = self.objectives[0] if self.objectives else None
        if first is not None and first.metric in METRICS:
            # The worker sends the task metric as the trial's value: make it the first
            # objective, so the value column is that objective.
            task = self.task.model_copy(
                update={"metric": first.metric, "direction": first.direction}
            )
            object.__setattr__(self, "task", task)
        if isinstance(self.task, CommandTaskSpec):
            check_placeholders(self.task, self.space, self.fixed)
        elif self.check_config:
            check_trainable(self.task, self.search_space(), self.fixed, self.seed)
        if self.sampler.name == "grid":
            try:
                size = self.search_space().grid_size()
            except HpoError as e:
                raise ValueError(str(e)) from e
            if size > DEFAULT_GRID_CAP:
                raise ValueError(
                    f"the grid has {size} points, more than the cap of {DEFAULT_GRID_CAP}: "
                    "use fewer grid values or grid_points, or another sampler"
                )
        # Build the sampler once, so bad options fail here and not in every later claim
        # (where one bad study would make every worker's claim fail).
        try:
            default_registry().create(
                self.sampler.name,
                self.search_space(),
                direction=self.direction,
                seed=self.seed,
                options=self.sampler.options,
                directions=self.directions,
                n_constraints=len(self.constraints),
            )
        except HpoError as e:
            raise ValueError(f"sampler {self.sampler.name}: {e}") from e
        return self

    @property
    def direction(self) -> Literal["minimize", "maximize"]:
        """The first objective's direction (the task's when there are no `objectives`)."""
        if self.objectives:
            return self.objectives[0].direction or "maximize"
        # TaskSpec's validator always fills it in; the fallback only satisfies the type.
        return self.task.direction or "maximize"

    @property
    def directions(self) -> tuple[Literal["minimize", "maximize"], ...]:
        """One direction per objective."""
        if not self.objectives:
            return (self.direction,)
        return tuple(o.direction or "maximize" for o in self.objectives)

    def search_space(self) -> SearchSpace:
        return space_from_dict(self.space)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data, with every default filled in (`client_token`
        and `warm_start` left out: they are what the creation did, not what the study is)."""
        return self.model_dump(mode="json", exclude={"client_token", "warm_start"})


# Bidirectional overrides and isolates reorder how a name reads on screen ("Trojan source").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_NAME_LENGTH = 200
# Integers beyond 2**53 lose precision in the samplers' float encoding (and numpy's int64).
MAX_INT_BOUND = 2**53


def _check_name(name: str, what: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is {len(name)} characters long: use at most {MAX_NAME_LENGTH}")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI_CONTROLS:
            raise ValueError(
                f"{what} contains the control character U+{ord(ch):04X}: use printable "
                "characters (any language and emoji are fine)"
            )
    return name


def _check_bounds(key: str, domain: Mapping[str, Any]) -> None:
    low, high = domain.get("low"), domain.get("high")
    if low is None or high is None:
        return
    if domain.get("type") == "int" and max(abs(low), abs(high)) > MAX_INT_BOUND:
        raise ValueError(
            f"parameter {key!r}: int bounds must lie within +-2**53 ({MAX_INT_BOUND}); use a "
            "float with log: true for wider ranges"
        )
    if not math.isfinite(float(high) - float(low)):
        raise ValueError(
            f"parameter {key!r}: high - low overflows a float ({low} .. {high}): use a narrower "
            "range or log: true"
        )


def parse_study_spec(
    data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None
) -> StudySpec:
    """Validate a study spec. `overrides` are applied on top (e.g. the CLI's `--sampler tpe
    --trials 50` as {"sampler": "tpe", "budget": {"n_trials": 50}}); nested dicts merge."""
    merged = _merge(dict(data), dict(overrides or {}))
    try:
        return StudySpec.model_validate(merged)
    except pydantic.ValidationError as e:
        raise ValidationError(describe_validation_error(e)) from e


def describe_validation_error(error: pydantic.ValidationError) -> str:
    """One readable line per problem: `budget.n_trials: Input should be >= 1`."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "spec"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field: remove it or check its spelling"
        elif item["type"] == "missing":
            message = "required field is missing"
        # A check across fields (the model's own validator) names its field in the message.
        lines.append(f"{where}: {message}" if item["loc"] else message)
    return "invalid study spec: " + "; ".join(lines)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = _merge(dict(base[key]), dict(value))
        else:
            base[key] = value
    return base
