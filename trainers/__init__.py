"""PyTorch trainers: datasets, models and the training loop. Never imports hpo or optuna.

The worker and `hpo train` need only this front:

    from trainers import build_run_config, run_training, ConfigError
    cfg = build_run_config({"task": {...}, "params": {...}, "seed": 0}, device="auto")
    result = run_training(cfg, on_epoch=lambda epoch, value, loss: should_prune(epoch, value))
    result.status, result.val_accuracy, result.to_dict()
"""

from __future__ import annotations

from trainers.config import RunConfig, build_run_config, run_training
from trainers.data import Dataset, DataSpec, load_dataset
from trainers.errors import ConfigError
from trainers.loop import TrainConfig, resolve_device, train
from trainers.models import CNNConfig, MLPConfig, build_model
from trainers.result import STATUSES, EpochRecord, TrainResult

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
