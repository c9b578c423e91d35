"""A run stopped after any epoch and resumed from its checkpoint ends exactly as a run never
stopped (weights, optimizer and schedule, both generators, history, early-stopping state)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from trainers.checkpoint import CHECKPOINT_FILE
from trainers.data import Dataset
from trainers.loop import TrainConfig, train
from trainers.models import MLPConfig
from trainers.result import TrainResult

pytestmark = pytest.mark.unit

# Dropout (the global generator), momentum (optimizer state) and a cosine schedule with
# warm-up (the lr depends on the epoch): each one would differ if it were not restored.
MODEL = MLPConfig(depth=2, width=16, dropout=0.3)
CFG = TrainConfig(
    epochs=6,
    lr=0.05,
    batch_size=8,
    optimizer="sgd",
    momentum=0.9,
    schedule="cosine",
    warmup_epochs=1,
)


class Killed(Exception):
    """Stands for the worker dying right after an epoch's checkpoint."""


def _numbers(result: TrainResult) -> list[dict[str, object]]:
    rows = [asdict(r) for r in result.history]
    for row in rows:
        row.pop("seconds")
    return rows


def _kill_after(epoch: int) -> Callable[[int, float, float], bool]:
    def on_epoch(e: int, _value: float, _loss: float) -> bool:
        if e == epoch:
            raise Killed
        return False

    return on_epoch


@pytest.mark.parametrize("killed_at", [1, 4])
def test_resumed_run_equals_an_uninterrupted_one(
    tiny: Dataset, tmp_path: Path, killed_at: int
) -> None:
    whole = train(MODEL, tiny, CFG, keep_weights=True)
    with pytest.raises(Killed):
        train(MODEL, tiny, CFG, _kill_after(killed_at), keep_weights=True, checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    seen: list[int] = []
    resumed = train(
        MODEL,
        tiny,
        CFG,
        lambda e, _v, _l: seen.append(e),
        keep_weights=True,
        checkpoint_dir=tmp_path,
    )
    assert resumed.resumed_from == killed_at
    assert seen == list(range(killed_at + 1, CFG.epochs + 1))  # no epoch trained twice
    assert _numbers(resumed) == _numbers(whole)
    assert (resumed.val_accuracy, resumed.val_loss, resumed.best_epoch) == (
        whole.val_accuracy,
        whole.val_loss,
        whole.best_epoch,
    )
    assert resumed.weights is not None and whole.weights is not None
    for name, tensor in whole.weights.items():
        assert resumed.weights[name].equal(tensor), name


def test_a_checkpoint_of_another_config_is_not_resumed(tiny: Dataset, tmp_path: Path) -> None:
    train(MODEL, tiny, TrainConfig(epochs=2, lr=0.05, batch_size=8), checkpoint_dir=tmp_path)
    other = train(
        MODEL, tiny, TrainConfig(epochs=3, lr=0.01, batch_size=8), checkpoint_dir=tmp_path
    )
    assert other.resumed_from == 0 and other.epochs_run == 3


def test_an_early_stopped_run_stays_stopped(tiny: Dataset, tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=40, lr=0.05, batch_size=8, patience=2)
    first = train(MODEL, tiny, cfg, checkpoint_dir=tmp_path)
    assert first.early_stopped
    again = train(MODEL, tiny, cfg, checkpoint_dir=tmp_path)
    assert again.early_stopped and again.resumed_from == first.epochs_run
    assert _numbers(again) == _numbers(first)
