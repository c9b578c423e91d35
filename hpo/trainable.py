"""Refuse at creation what every trial would fail on: a spec checked by the trainers' own code.

A worker validates each trial's config with `trainers.run_config.build_run_config` and fails the
trial as a config error when it raises. Here the same function runs when a study, comparison or
enqueued config arrives, over the task, each fixed value and every value the space can produce
(each categorical choice, each bound, each explicit grid value), so `dataset: mnist2d`, a param
named `learning_rate` or a choice `rleu` is a 422 that names the field, not N failed trials.

One value at a time, with the fixed params: the trainers' checks are per field (a choice set or
an interval), so the bounds of a range stand for every value between them.

User files (`csv:PATH`, `npz:PATH`, `data.csv`) are read by the workers, under their own data
roots: the server checks only where they are (hpo.dataset_location), and a built-in dataset
stands in for them here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from hpo.dataset_location import dataset_file_path
from hpo.errors import UntrainableError
from hpo.space import Categorical, Float, SearchSpace
from trainers.errors import ConfigError
from trainers.run_config import MODEL_PARAMS, TRAIN_PARAMS, build_run_config

# Stands in for a user's data file, which only a worker can read.
_STAND_IN_DATASET = "mnist1d"
# Where inside a continuous range to probe: irrational, so never an integer by accident.
_INSIDE = 0.3819660112501051


def check_spec(
    task: Mapping[str, Any], space: SearchSpace, fixed: Mapping[str, Any], seed: int = 0
) -> None:
    """Raise UntrainableError("space.activation: choice 'rleu': unknown activation ...") for the
    first task field, fixed param or space value the trainers would refuse."""
    task = _checkable_task(task)
    try:
        _check("task", task, {}, seed)
    except UntrainableError as e:
        raise UntrainableError(str(e).replace("task", _task_field(task, seed), 1)) from None
    for key, value in fixed.items():
        _check(f"fixed.{key}", task, {key: value}, seed)
    base = dict(fixed)
    for key, param in space.items():
        values = list(_values_to_check(param))
        if not _is_known_param(task, key):
            _check(f"space.{key}", task, {**base, key: values[0][1]}, seed)  # names the valid ones
        for label, value in values:
            _check(f"space.{key}: {label} {value!r}", task, {**base, key: value}, seed)


def check_config(task: Mapping[str, Any], params: Mapping[str, Any], seed: int = 0) -> None:
    """One full trial config (an enqueued one): raise UntrainableError naming `params`."""
    _check("params", _checkable_task(task), params, seed)


def is_user_file(dataset: object) -> bool:
    """`csv:...`, `npz:...` or a path ending in .csv / .npz: a file on the workers' disk (its
    location is checked by hpo.dataset_location, its contents by the worker)."""
    return isinstance(dataset, str) and dataset_file_path(dataset) is not None


def _is_known_param(task: Mapping[str, Any], key: str) -> bool:
    model = task.get("model", task.get("trainer"))
    return key in TRAIN_PARAMS or key in MODEL_PARAMS.get(str(model), ())


def _checkable_task(task: Mapping[str, Any]) -> dict[str, Any]:
    checkable = dict(task)
    if is_user_file(checkable.get("dataset")):
        checkable["dataset"] = _STAND_IN_DATASET
    return checkable


def _task_field(task: Mapping[str, Any], seed: int) -> str:
    """Which task field a task error is about: the dataset if a built-in one clears it."""
    try:
        build_run_config({"task": {**task, "dataset": _STAND_IN_DATASET}, "seed": seed})
    except ConfigError:
        return "task"
    return "task.dataset"


def _values_to_check(param: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(param, Categorical):
        for choice in param.choices:
            yield "choice", choice
        return
    yield "low", param.low
    yield "high", param.high
    if isinstance(param, Float) and param.step is None:
        # A continuous float also produces fractions (a float space for `depth` fails on them).
        yield "value", param.low + (param.high - param.low) * _INSIDE
    for value in param.grid or ():
        yield "grid value", value


def _check(where: str, task: Mapping[str, Any], params: Mapping[str, Any], seed: int) -> None:
    try:
        build_run_config({"task": dict(task), "params": dict(params), "seed": seed})
    except ConfigError as e:
        raise UntrainableError(f"{where}: {e}") from None
    except (TypeError, ValueError, ArithmeticError) as e:
        # A value of a type the trainers' dataclasses do not expect at all (a list for lr).
        raise UntrainableError(f"{where}: not accepted by the trainers ({e})") from None
