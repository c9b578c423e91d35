from __future__ import annotations

import json
import math

import pytest
import torch

from tests.unit.trainers.conftest import make_tiny
from trainers.data import Dataset
from trainers.errors import ConfigError
from trainers.loop import TrainConfig, train
from trainers.models import CNNConfig, MLPConfig, build_model
from trainers.optim import OPTIMIZERS, SCHEDULES

pytestmark = pytest.mark.unit

SMALL = MLPConfig(depth=1, width=16)


def test_train_learns_a_separable_problem(tiny: Dataset) -> None:
    r = train(SMALL, tiny, TrainConfig(epochs=15, lr=0.01, batch_size=16))
    assert r.status == "completed" and r.ok and r.epochs_run == 15
    assert r.val_accuracy is not None and r.val_accuracy > 0.8
    assert r.history[-1].train_loss < r.history[0].train_loss
    assert r.best_epoch is not None and r.history[r.best_epoch - 1].val_accuracy == r.val_accuracy
    assert r.n_params == (6 * 16 + 16) + (16 * 3 + 3)
    assert r.device == "cpu" and r.seconds_total > 0 and r.seconds_per_epoch > 0
    assert r.test_accuracy is None  # a search run never sees test


def test_same_seed_same_metrics_other_seed_differs(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=3, lr=0.01, batch_size=8)
    model = MLPConfig(depth=2, width=16, dropout=0.3)
    a, b = train(model, tiny, cfg), train(model, tiny, cfg)
    c = train(model, tiny, TrainConfig(epochs=3, lr=0.01, batch_size=8, seed=1))
    losses = [[h.train_loss for h in r.history] for r in (a, b, c)]
    assert losses[0] == losses[1]
    assert [h.val_loss for h in a.history] == [h.val_loss for h in b.history]
    assert losses[0] != losses[2]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(tiny: Dataset, optimizer: str) -> None:
    lr = {"adadelta": 1.0}.get(optimizer, 0.01)
    r = train(
        SMALL,
        tiny,
        TrainConfig(epochs=2, lr=lr, batch_size=16, optimizer=optimizer, weight_decay=1e-4),
    )
    assert r.status == "completed" and all(math.isfinite(h.train_loss) for h in r.history)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_sets_the_learning_rate(tiny: Dataset, schedule: str) -> None:
    cfg = TrainConfig(epochs=4, lr=0.1, batch_size=16, schedule=schedule, warmup_epochs=1)
    r = train(SMALL, tiny, cfg)
    lrs = [h.lr for h in r.history]
    assert r.status == "completed" and all(0 < lr <= 0.1 for lr in lrs)
    if schedule in ("cosine", "polynomial", "onecycle", "exponential", "step", "multistep"):
        assert lrs[-1] < lrs[1]  # decays after the warmup


def test_divergence_is_a_result_not_a_crash(tiny: Dataset) -> None:
    r = train(SMALL, tiny, TrainConfig(epochs=5, lr=1e4, optimizer="sgd", batch_size=8))
    assert r.status == "diverged" and not r.ok
    assert r.failed_epoch == 1 and r.epochs_run == 1
    assert "loss became" in r.message
    assert r.val_accuracy is None and r.best_epoch is None
    summary = json.loads(json.dumps(r.to_dict(), allow_nan=False))  # NaN became null
    assert summary["status"] == "diverged" and summary["history"][0]["train_loss"] is None


def test_a_model_too_large_for_memory_is_a_result_not_a_crash(tiny: Dataset) -> None:
    # 6 x 2^44 float32 weights: 384 TiB, beyond the 128 TiB address space, so refused at once
    # even where the kernel overcommits memory.
    r = train(MLPConfig(depth=1, width=2**44), tiny, TrainConfig(epochs=1))
    assert r.status == "oom" and not r.ok and r.failed_epoch == 1
    assert "allocate" in r.message and r.epochs_run == 0


def test_callback_sees_each_epoch_and_can_stop(tiny: Dataset) -> None:
    seen: list[tuple[int, float, float]] = []

    def on_epoch(epoch: int, value: float, train_loss: float) -> bool:
        seen.append((epoch, value, train_loss))
        return epoch == 2

    r = train(SMALL, tiny, TrainConfig(epochs=10, lr=0.01, batch_size=16), on_epoch)
    assert r.status == "stopped" and r.epochs_run == 2 and r.ok
    assert [s[0] for s in seen] == [1, 2]
    assert [s[1] for s in seen] == [h.val_accuracy for h in r.history]
    assert [s[2] for s in seen] == [h.train_loss for h in r.history]


def test_early_stopping_with_patience(tiny: Dataset) -> None:
    # A learning rate too small to change predictions: validation never improves after epoch 1.
    cfg = TrainConfig(epochs=20, lr=1e-9, optimizer="sgd", patience=3, batch_size=16)
    r = train(SMALL, tiny, cfg)
    assert r.status == "completed" and r.early_stopped
    assert r.epochs_run == 4 and r.best_epoch == 1


def test_val_loss_metric_picks_the_lowest_loss(tiny: Dataset) -> None:
    r = train(SMALL, tiny, TrainConfig(epochs=6, lr=0.05, batch_size=16, metric="val_loss"))
    losses = [h.val_loss for h in r.history if h.val_loss is not None]
    assert r.val_loss == min(losses)


def test_clipping_smoothing_and_batch_norm_with_a_batch_of_one_left(tiny: Dataset) -> None:
    # 64 rows in batches of 9 leave one row over: it is dropped, batch norm would fail on it.
    cfg = TrainConfig(epochs=2, lr=0.01, batch_size=9, grad_clip=0.5, label_smoothing=0.1)
    r = train(MLPConfig(depth=1, width=8, norm="batch"), tiny, cfg)
    assert r.status == "completed"


def test_cnns_train_on_sequences_and_images() -> None:
    for kind in ("seq1d", "image2d"):
        data = make_tiny(kind)
        r = train(CNNConfig(depth=2, width=4), data, TrainConfig(epochs=2, batch_size=16))
        assert r.status == "completed" and r.val_accuracy is not None


def test_weights_and_test_evaluation(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=4, lr=0.01, batch_size=16)
    r = train(SMALL, tiny, cfg, evaluate_test=True, keep_weights=True)
    assert r.weights is not None and r.test_accuracy is not None and r.test_loss is not None
    model = build_model(SMALL, kind="flat", input_shape=(6,), n_classes=3)
    model.load_state_dict(r.weights)
    model.eval()
    with torch.no_grad():
        acc = (model(torch.from_numpy(tiny.x_test)).argmax(1).numpy() == tiny.y_test).mean()
    assert acc == pytest.approx(r.test_accuracy)
    assert r.config["model"]["width"] == 16 and r.config["train"]["lr"] == 0.01


def test_training_without_validation_reports_nan_to_the_callback() -> None:
    data = make_tiny()
    data = Dataset(**{**data.__dict__, "x_val": data.x_val[:0], "y_val": data.y_val[:0]})
    values: list[float] = []
    r = train(
        SMALL,
        data,
        TrainConfig(epochs=2, batch_size=16),
        lambda e, v, t: values.append(v),
        evaluate_test=True,
    )
    assert all(math.isnan(v) for v in values) and r.val_accuracy is None
    assert r.test_accuracy is not None and r.best_epoch is None


def test_thread_count_is_restored(tiny: Dataset) -> None:
    before = torch.get_num_threads()
    train(SMALL, tiny, TrainConfig(epochs=1, threads=1))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"lr": 0.0}, "lr must be in (0.0, inf]"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"optimizer": "lion"}, "valid: sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad"),
        ({"schedule": "linear"}, "valid: constant, step, multistep, exponential, cosine"),
        ({"momentum": 1.0}, "momentum must be in [0.0, 1.0)"),
        ({"label_smoothing": -0.1}, "label_smoothing must be in [0.0, 1.0)"),
        ({"patience": -1}, "patience must be an integer >= 0"),
        ({"metric": "accuracy"}, "valid: val_accuracy, val_loss"),
        ({"device": "tpu"}, "valid: auto, cpu, cuda, cuda:N"),
        ({"milestones": ()}, "milestones must be a list"),
        ({"gamma": 0.0}, "gamma must be in (0.0, 1.0]"),
    ],
)
def test_bad_training_configs_say_what_is_valid(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        TrainConfig(**kwargs)  # type: ignore[arg-type]
    assert needle in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_asking_for_cuda_without_one_is_a_config_error(tiny: Dataset) -> None:
    with pytest.raises(ConfigError, match="no CUDA device is available"):
        train(SMALL, tiny, TrainConfig(device="cuda"))


def test_a_finished_run_reports_its_inference_latency(tiny: Dataset) -> None:
    r = train(SMALL, tiny, TrainConfig(epochs=1, lr=0.01, batch_size=16))
    assert r.latency_ms is not None and math.isfinite(r.latency_ms) and r.latency_ms > 0
    assert r.to_dict()["latency_ms"] == r.latency_ms  # the worker sends it with the metrics


def test_latency_times_the_forward_passes_after_warm_up_in_eval_mode() -> None:
    from contextlib import nullcontext

    from trainers.latency import latency_ms

    calls: list[tuple[bool, bool]] = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append((self.training, torch.is_grad_enabled()))
            return x

    ms = latency_ms(Probe(), torch.zeros(4, 3), nullcontext, warmup=2, timed=5)
    assert ms >= 0 and len(calls) == 7
    assert set(calls) == {(False, False)}
