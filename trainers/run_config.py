"""Validate a training config (`{task, params, seed}`) into a RunConfig, without torch.

This is the one check of a config: the worker and `hpo train` run it before training
(`trainers.config`), and the service runs it when a study is created, so a mistake that would
fail every trial is refused at once. Keep it free of torch (and of file access): the API
process imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from trainers.data._spec import DataSpec
from trainers.errors import ConfigError, check_choice, check_int
from trainers.model_config import MODELS, CNNConfig, MLPConfig, ModelConfig
from trainers.train_config import METRICS, TrainConfig

TOP_KEYS = ("task", "params", "seed", "name")  # name: optional, a label for people
TASK_KEYS = ("model", "trainer", "dataset", "epochs", "metric", "direction")
DIRECTIONS = ("maximize", "minimize")
# Set by the process that trains (the worker, `hpo train`), not by a search.
_RUNTIME_FIELDS = ("seed", "device", "threads", "eval_batch_size", "metric")
_MODEL_CLASSES: dict[str, type[MLPConfig] | type[CNNConfig]] = {"mlp": MLPConfig, "cnn": CNNConfig}


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


TRAIN_PARAMS = tuple(n for n in _field_names(TrainConfig) if n not in _RUNTIME_FIELDS)
MODEL_PARAMS = {name: _field_names(cls) for name, cls in _MODEL_CLASSES.items()}


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs, validated."""

    model_name: str  # mlp | cnn
    data: DataSpec
    model: ModelConfig
    train: TrainConfig
    direction: str = "maximize"

    @property
    def seed(self) -> int:
        return self.train.seed

    def with_seed(self, seed: int) -> RunConfig:
        return replace(self, train=replace(self.train, seed=seed))

    def to_dict(self) -> dict[str, Any]:
        """The resolved config in the `{task, params, seed}` shape, every default filled in."""
        train = asdict(self.train)
        params = {**asdict(self.model), **{k: train[k] for k in TRAIN_PARAMS}}
        if params.get("milestones") is not None:
            params["milestones"] = list(params["milestones"])
        task = {
            "model": self.model_name,
            "dataset": self.data.to_dict(),
            "epochs": self.train.epochs,
            "metric": self.train.metric,
            "direction": self.direction,
        }
        params.pop("epochs")
        return {"task": task, "params": params, "seed": self.train.seed}


def build_run_config(
    config: Mapping[str, Any], *, device: str = "auto", threads: int = 1
) -> RunConfig:
    """Validate a `{task, params, seed}` mapping into a RunConfig; raise ConfigError if invalid."""
    if not isinstance(config, Mapping):
        raise ConfigError("a training config must be a mapping with keys task, params, seed")
    _reject_unknown("training config key", config, TOP_KEYS)
    task = config.get("task")
    if not isinstance(task, Mapping):
        raise ConfigError("a training config needs a task mapping: {model, dataset, epochs, ...}")
    params = config.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"params must be a mapping of hyperparameters, got {params!r}")
    _reject_unknown("task key", task, TASK_KEYS)
    if "model" in task and "trainer" in task:
        raise ConfigError("give the task's model once: model or trainer, not both")
    model_name = check_choice("model", task.get("model", task.get("trainer")), MODELS)
    if "dataset" not in task:
        raise ConfigError("the task needs a dataset, e.g. dataset: mnist1d")
    data = DataSpec.parse(task["dataset"])
    metric = check_choice("metric", task.get("metric", "val_accuracy"), METRICS)
    default_direction = "maximize" if metric == "val_accuracy" else "minimize"
    direction = check_choice("direction", task.get("direction", default_direction), DIRECTIONS)
    seed = check_int("seed", config.get("seed", 0), minimum=0)

    model_keys = MODEL_PARAMS[model_name]
    model_args, train_args = {}, {}
    for key, value in params.items():
        if key in model_keys:
            model_args[key] = value
        elif key in TRAIN_PARAMS:
            train_args[key] = value
        else:
            raise ConfigError(_unknown_param_message(str(key), model_name))
    if "epochs" not in train_args and "epochs" in task:
        train_args["epochs"] = task["epochs"]
    if isinstance(train_args.get("milestones"), list):
        train_args["milestones"] = tuple(train_args["milestones"])
    model = _MODEL_CLASSES[model_name](**model_args)
    train_cfg = TrainConfig(**train_args, metric=metric, seed=seed, device=device, threads=threads)
    return RunConfig(model_name, data, model, train_cfg, direction)


def _reject_unknown(what: str, mapping: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    unknown = [str(k) for k in mapping if k not in valid]
    if unknown:
        raise ConfigError(f"unknown {what}(s) {', '.join(unknown)}; valid: {', '.join(valid)}")


def _unknown_param_message(key: str, model_name: str) -> str:
    owners = [name for name, keys in MODEL_PARAMS.items() if key in keys]
    if owners:
        return f"param {key!r} applies to model {' or '.join(owners)}, not {model_name}"
    valid = (*MODEL_PARAMS[model_name], *TRAIN_PARAMS)
    return f"unknown param {key!r} for model {model_name}; valid: {', '.join(valid)}"
