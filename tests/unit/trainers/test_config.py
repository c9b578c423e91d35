from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainers import build_run_config, run_training
from trainers.errors import ConfigError
from trainers.models import CNNConfig, MLPConfig

pytestmark = pytest.mark.unit

DESIGN_EXAMPLE: dict[str, Any] = {
    "task": {
        "model": "mlp",
        "dataset": "mnist1d",
        "epochs": 20,
        "metric": "val_accuracy",
        "direction": "maximize",
    },
    "params": {
        "lr": 1e-3,
        "batch_size": 64,
        "depth": 3,
        "width": 200,
        "activation": "gelu",
        "dropout": 0.1,
        "optimizer": "adamw",
        "weight_decay": 1e-4,
        "schedule": "cosine",
    },
    "seed": 4,
}


def test_design_example_builds_the_trainer_configs() -> None:
    cfg = build_run_config(DESIGN_EXAMPLE)
    assert cfg.model == MLPConfig(depth=3, width=200, activation="gelu", dropout=0.1)
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.epochs) == (1e-3, 64, 20)
    assert (cfg.train.optimizer, cfg.train.schedule, cfg.train.seed) == ("adamw", "cosine", 4)
    assert cfg.data.name == "mnist1d" and cfg.direction == "maximize"


def test_resolved_config_round_trips() -> None:
    cfg = build_run_config(DESIGN_EXAMPLE)
    again = build_run_config(cfg.to_dict())
    assert again == cfg
    assert cfg.to_dict()["params"]["init"] == "default"  # defaults are filled in


def test_cnn_params_values_from_yaml_and_samplers_are_coerced() -> None:
    cfg = build_run_config(
        {
            "task": {
                "trainer": "cnn",
                "dataset": {"name": "digits", "val_fraction": 0.1},
                "epochs": 5,
            },
            "params": {
                "kernel_size": 3.0,
                "lr": "1e-3",
                "milestones": [4, 2],
                "schedule": "multistep",
                "epochs": 7,
            },
        }
    )
    assert isinstance(cfg.model, CNNConfig) and cfg.model.kernel_size == 3
    assert cfg.train.lr == 1e-3 and cfg.train.milestones == (2, 4)
    assert cfg.train.epochs == 7  # a searched epochs param wins over the task's
    assert cfg.data.val_fraction == 0.1 and cfg.seed == 0


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"task": {"model": "mlp", "dataset": "wine"}, "spaces": {}}, "valid: task, params, seed"),
        ({"params": {}}, "needs a task"),
        ({"task": {"model": "mlp", "dataset": "wine", "epoch": 3}}, "valid: model, trainer"),
        ({"task": {"model": "rnn", "dataset": "wine"}}, "unknown model 'rnn'; valid: mlp, cnn"),
        ({"task": {"model": "mlp"}}, "needs a dataset"),
        ({"task": {"model": "mlp", "dataset": "cifar10"}}, "valid: mnist1d"),
        ({"task": {"model": "mlp", "dataset": "wine", "metric": "f1"}}, "val_accuracy, val_loss"),
        ({"task": {"model": "mlp", "dataset": "wine", "direction": "up"}}, "maximize, minimize"),
        (
            {"task": {"model": "mlp", "dataset": "wine"}, "params": {"lr_decay": 1}},
            "unknown param 'lr_decay' for model mlp; valid: depth, width",
        ),
        (
            {"task": {"model": "mlp", "dataset": "wine"}, "params": {"kernel_size": 3}},
            "applies to model cnn, not mlp",
        ),
        (
            {"task": {"model": "mlp", "dataset": "wine"}, "params": {"activation": "swish"}},
            "valid: relu, leaky_relu",
        ),
        ({"task": {"model": "mlp", "dataset": "wine"}, "params": {"seed": 3}}, "unknown param"),
        ({"task": {"model": "mlp", "dataset": "wine"}, "seed": -1}, "seed must be an integer"),
        ("lr: 1", "must be a mapping"),
    ],
)
def test_bad_training_configs_say_what_is_valid(config: Any, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_run_config(config)
    assert needle in str(err.value)


def test_run_training_search_and_final(cache_dir: Path) -> None:
    cfg = build_run_config(
        {
            "task": {"model": "mlp", "dataset": "wine", "epochs": 2},
            "params": {"batch_size": 32, "lr": 0.01},
        }
    )
    search = run_training(cfg)
    assert search.val_accuracy is not None and search.test_accuracy is None
    final = run_training(cfg, final=True, keep_weights=True)
    assert final.val_accuracy is None and final.test_accuracy is not None
    assert final.weights is not None
