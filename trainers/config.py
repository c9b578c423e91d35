"""From a training config (shared/DESIGN.md's `{task, params, seed}`) to trainer configs.

    cfg = build_run_config({
        "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 20, "metric": "val_accuracy"},
        "params": {"lr": 1e-3, "depth": 2, "width": 128, "optimizer": "adam"},
        "seed": 0,
    })
    result = run_training(cfg, on_epoch=report)            # a search trial: validation only
    final = run_training(cfg, final=True, keep_weights=True)  # train + val, then test

`params` holds both model and training hyperparameters (searched and fixed, merged); each key
goes to the config that owns it. Unknown keys are errors that list the valid ones, so a typo in a
search space fails its first trial loudly instead of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trainers.data import load_dataset
from trainers.loop import OnEpoch, train
from trainers.result import TrainResult
from trainers.run_config import (
    MODEL_PARAMS,
    TASK_KEYS,
    TOP_KEYS,
    TRAIN_PARAMS,
    RunConfig,
    build_run_config,
)

__all__ = [
    "MODEL_PARAMS",
    "TASK_KEYS",
    "TOP_KEYS",
    "TRAIN_PARAMS",
    "RunConfig",
    "build_run_config",
    "run_training",
]


def run_training(
    cfg: RunConfig,
    on_epoch: OnEpoch | None = None,
    *,
    final: bool = False,
    evaluate_test: bool | None = None,
    keep_weights: bool = False,
    cache_dir: Path | None = None,
    data_roots: Sequence[Path] | None = None,
    checkpoint_dir: Path | None = None,
) -> TrainResult:
    """Load the data for `cfg.seed` and train.

    A search trial (the default) trains on train and validates each epoch; test is not touched.
    `final=True` trains on train + validation for the configured epochs and scores test.
    `evaluate_test=True` without `final` also scores the best-validation weights on test.
    `data_roots`: the folders a user dataset may be read from (a worker's); None reads any path.
    `checkpoint_dir`: checkpoint each epoch there, and resume from what is there (trainers.loop).
    """
    data = load_dataset(
        cfg.data,
        seed=cfg.seed,
        val_fraction=0.0 if final else None,
        cache_dir=cache_dir,
        data_roots=data_roots,
    )
    test = final if evaluate_test is None else evaluate_test
    return train(
        cfg.model,
        data,
        cfg.train,
        on_epoch,
        evaluate_test=test,
        keep_weights=keep_weights,
        checkpoint_dir=checkpoint_dir,
    )
