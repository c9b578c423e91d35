"""PyTorch trainers: datasets, models and the training loop. Never imports hpo or optuna.

The worker and `hpo train` need only this front:

    from trainers import build_run_config, run_training, ConfigError
    cfg = build_run_config({"task": {...}, "params": {...}, "seed": 0}, device="auto")
    result = run_training(cfg, on_epoch=lambda epoch, value, loss: should_prune(epoch, value))
    result.status, result.val_accuracy, result.to_dict()

Validating a config (`build_run_config`, the config dataclasses) does not import torch: the API
process checks study specs with it. The names that need torch load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainers.data import Dataset, DataSpec, load_dataset
from trainers.errors import ConfigError
from trainers.model_config import CNNConfig, MLPConfig
from trainers.result import STATUSES, EpochRecord, TrainResult
from trainers.run_config import RunConfig, build_run_config
from trainers.train_config import TrainConfig, resolve_device

if TYPE_CHECKING:
    from trainers.config import run_training
    from trainers.loop import train
    from trainers.models import build_model

# Names whose modules import torch, and where they live.
_TORCH_NAMES = {"run_training": "trainers.config", "train": "trainers.loop"}
_TORCH_NAMES["build_model"] = "trainers.models"


def __getattr__(name: str) -> Any:
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'trainers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "STATUSES",
    "CNNConfig",
    "ConfigError",
    "DataSpec",
    "Dataset",
    "EpochRecord",
    "MLPConfig",
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "build_run_config",
    "load_dataset",
    "resolve_device",
    "run_training",
    "train",
]
