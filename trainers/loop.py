"""The training loop: `train(model_cfg, data, cfg, on_epoch)` -> TrainResult.

The whole dataset lives as tensors on the training device; each epoch draws one permutation,
gathers the shuffled data once and slices batches as views, so there is no DataLoader and no
per-batch host work. The loss is accumulated on the device and read once per epoch: the only
synchronization points are the end of an epoch and evaluation.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from trainers.data import Dataset
from trainers.errors import (
    ConfigError,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    normalize,
)
from trainers.models import ModelConfig, build_model, count_parameters
from trainers.optim import OPTIMIZERS, SCHEDULES, is_constant, make_optimizer, make_schedule
from trainers.result import EpochRecord, TrainResult

METRICS = ("val_accuracy", "val_loss")  # accuracy is maximized, loss minimized
DEVICES = ("auto", "cpu", "cuda", "cuda:N")

# Called after each epoch with (epoch, validation metric, train loss); a truthy return stops the
# run with status "stopped" (how a pruner ends a trial). The metric is NaN without validation.
OnEpoch = Callable[[int, float, float], object]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    momentum: float = 0.9  # for the momentum and nesterov optimizers
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0  # linear warmup, multiplied onto any schedule
    gamma: float | None = None  # step / multistep / exponential decay; None: 0.1, 0.1, 0.9
    step_size: int | None = None  # step: epochs per decay; None: a third of the run
    milestones: tuple[int, ...] | None = None  # multistep; None: half and three quarters
    power: float = 1.0  # polynomial
    cycle_epochs: float | None = None  # cyclic: epochs per triangle; None: a quarter of the run
    min_lr_fraction: float = 0.0  # cosine / polynomial floor, cyclic low point (0: 0.1)
    grad_clip: float = 0.0  # max global gradient norm; 0 disables
    label_smoothing: float = 0.0
    patience: int = 0  # stop after this many epochs without improvement; 0 disables
    metric: str = "val_accuracy"  # picks the best epoch and drives early stopping
    seed: int = 0
    device: str = "auto"  # auto picks CUDA when present
    # CPU threads. Small models train fastest on one: more threads add synchronization per op
    # and contend with parallel trials. 0 leaves torch's own choice (all cores).
    threads: int = 1
    eval_batch_size: int = 4096

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("metric", self.metric, METRICS)
        _parse_device(self.device)
        normalize(
            self,
            epochs=check_int("epochs", self.epochs, minimum=1),
            lr=check_float("lr", self.lr, low=0.0, low_open=True),
            batch_size=check_int("batch_size", self.batch_size, minimum=1),
            momentum=check_fraction("momentum", self.momentum),
            weight_decay=check_float("weight_decay", self.weight_decay, low=0.0),
            warmup_epochs=check_float("warmup_epochs", self.warmup_epochs, low=0.0),
            power=check_float("power", self.power, low=0.0, low_open=True),
            min_lr_fraction=check_fraction("min_lr_fraction", self.min_lr_fraction),
            grad_clip=check_float("grad_clip", self.grad_clip, low=0.0),
            label_smoothing=check_fraction("label_smoothing", self.label_smoothing),
            patience=check_int("patience", self.patience, minimum=0),
            seed=check_int("seed", self.seed, minimum=0),
            threads=check_int("threads", self.threads, minimum=0),
            eval_batch_size=check_int("eval_batch_size", self.eval_batch_size, minimum=1),
        )
        if self.gamma is not None:
            normalize(
                self, gamma=check_float("gamma", self.gamma, low=0.0, high=1.0, low_open=True)
            )
        if self.step_size is not None:
            normalize(self, step_size=check_int("step_size", self.step_size, minimum=1))
        if self.cycle_epochs is not None:
            value = check_float("cycle_epochs", self.cycle_epochs, low=0.0, low_open=True)
            normalize(self, cycle_epochs=value)
        if self.milestones is not None:
            if isinstance(self.milestones, str | bytes) or not self.milestones:
                raise ConfigError(f"milestones must be a list of epochs, got {self.milestones!r}")
            marks = tuple(check_int("each milestone", m, minimum=1) for m in self.milestones)
            normalize(self, milestones=tuple(sorted(marks)))


def _parse_device(name: str) -> str:
    if not isinstance(name, str) or not (
        name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())
    ):
        raise ConfigError(f"unknown device {name!r}; valid: {', '.join(DEVICES)}")
    return name


def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available, else cpu. Asking for CUDA without one is a config error."""
    name = _parse_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} requested but no CUDA device is available; use cpu or auto"
        )
    return torch.device(name)


def train(
    model_cfg: ModelConfig,
    data: Dataset,
    cfg: TrainConfig,
    on_epoch: OnEpoch | None = None,
    *,
    evaluate_test: bool = False,
    keep_weights: bool = False,
) -> TrainResult:
    """Train a fresh model on `data.x_train`, validating each epoch when `data` has a validation
    split. `evaluate_test` also scores the returned weights on the test split: only final
    training should ask, so a search never sees test. Never raises for NaN loss or out of memory.
    """
    device = resolve_device(cfg.device)
    threads = cfg.threads if device.type == "cpu" and cfg.threads else None
    with _cpu_threads(threads), _deterministic_cudnn(device.type == "cuda"):
        return _Run(model_cfg, data, cfg, device).run(on_epoch, evaluate_test, keep_weights)


@contextlib.contextmanager
def _cpu_threads(threads: int | None) -> Iterator[None]:
    # torch's thread count is process-wide: set it for the run, then put it back.
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _is_out_of_memory(error: BaseException) -> bool:
    # CUDA raises its own type; the CPU allocator raises a RuntimeError that says so.
    if isinstance(error, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    text = str(error)
    return "can't allocate memory" in text or "out of memory" in text


@contextlib.contextmanager
def _deterministic_cudnn(enabled: bool) -> Iterator[None]:
    # cuDNN's autotuner may pick different kernels run to run; pin them so a seed repeats.
    if not enabled:
        yield
        return
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


class _Run:
    """One training run's state. Separate from `train` only to keep each method short."""

    def __init__(
        self, model_cfg: ModelConfig, data: Dataset, cfg: TrainConfig, device: torch.device
    ):
        self.cfg, self.data, self.device = cfg, data, device
        self.config = {
            "model": asdict(model_cfg),
            "train": asdict(cfg),
            "device": str(device),
            "dataset": data.name,
        }
        # Seed before building: initialization and dropout draw from the global generator.
        torch.manual_seed(cfg.seed)
        self.model = build_model(
            model_cfg, kind=data.kind, input_shape=data.input_shape, n_classes=data.n_classes
        )
        self.n_params = count_parameters(self.model)
        self.autocast: Callable[[], contextlib.AbstractContextManager[object]] = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if device.type == "cuda"
            else contextlib.nullcontext
        )

    def run(self, on_epoch: OnEpoch | None, evaluate_test: bool, keep_weights: bool) -> TrainResult:
        start = time.perf_counter()
        history: list[EpochRecord] = []
        try:
            outcome = self._epochs(history, on_epoch, keep_best=keep_weights or evaluate_test)
        except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as e:
            if not _is_out_of_memory(e):
                raise
            self._release()
            return self._result(
                "oom",
                f"out of memory: {str(e).splitlines()[0]}",
                history,
                start,
                failed_epoch=len(history) + 1,
            )
        status, message, best_state, early = outcome
        if status == "diverged":
            return self._result(status, message, history, start, failed_epoch=len(history))
        if best_state is not None:
            self.model.load_state_dict(best_state)
        test = self._evaluate(*self._tensors("test")) if evaluate_test else None
        weights = None
        if keep_weights:
            weights = {k: v.detach().to("cpu").clone() for k, v in self.model.state_dict().items()}
        return self._result(
            status, message, history, start, test=test, weights=weights, early_stopped=early
        )

    def _epochs(
        self, history: list[EpochRecord], on_epoch: OnEpoch | None, keep_best: bool
    ) -> tuple[str, str, dict[str, torch.Tensor] | None, bool]:
        cfg, dev = self.cfg, self.device
        x, y = self._tensors("train")
        val = self._tensors("val")
        has_val = len(self.data.y_val) > 0
        self.model.to(dev)
        optimizer = make_optimizer(
            cfg.optimizer,
            self.model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
        schedule = make_schedule(
            cfg.schedule,
            epochs=cfg.epochs,
            gamma=cfg.gamma,
            step_size=cfg.step_size,
            milestones=cfg.milestones,
            power=cfg.power,
            cycle_epochs=cfg.cycle_epochs,
            min_lr_fraction=cfg.min_lr_fraction,
            warmup_epochs=cfg.warmup_epochs,
        )
        loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        generator = torch.Generator(device=dev).manual_seed(cfg.seed)
        constant_lr, lr = is_constant(schedule) and cfg.warmup_epochs == 0, cfg.lr
        n = len(y)
        # A last batch of one sample would break batch norm; drop it (the next epoch reshuffles).
        n_used = n - 1 if n % cfg.batch_size == 1 and n > 1 else n
        starts = range(0, n_used, cfg.batch_size)
        n_batches = len(starts)
        sign = 1.0 if cfg.metric == "val_accuracy" else -1.0
        best, best_state, stale = -math.inf, None, 0
        for epoch in range(1, cfg.epochs + 1):
            t0 = time.perf_counter()
            self.model.train()
            perm = torch.randperm(n, generator=generator, device=dev)
            xs, ys = x[perm], y[perm]  # one gather per epoch; the batches below are views
            loss_sum = torch.zeros((), device=dev)
            for b, i in enumerate(starts):
                if not constant_lr:
                    lr = cfg.lr * schedule(epoch - 1 + b / n_batches)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                with self.autocast():
                    loss = loss_fn(
                        self.model(xs[i : i + cfg.batch_size]), ys[i : i + cfg.batch_size]
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                optimizer.step()
                loss_sum += loss.detach()
            train_loss = loss_sum.item() / n_batches  # the epoch's one sync
            val_loss, val_acc = self._evaluate(*val) if has_val else (None, None)
            history.append(
                EpochRecord(epoch, train_loss, val_loss, val_acc, time.perf_counter() - t0, lr)
            )
            if not math.isfinite(train_loss) or (
                val_loss is not None and not math.isfinite(val_loss)
            ):
                return "diverged", f"loss became {train_loss} at epoch {epoch}", None, False
            value = (val_acc if cfg.metric == "val_accuracy" else val_loss) if has_val else math.nan
            assert value is not None
            if has_val and sign * value > best:
                best, stale = sign * value, 0
                if keep_best:
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                stale += 1
            if on_epoch is not None and on_epoch(epoch, value, train_loss):
                return "stopped", f"stopped by the callback after epoch {epoch}", best_state, False
            if has_val and cfg.patience and stale >= cfg.patience:
                return (
                    "completed",
                    f"early stop: no improvement for {stale} epochs",
                    best_state,
                    True,
                )
        return "completed", f"trained {cfg.epochs} epochs", best_state, False

    def _tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = getattr(self.data, f"x_{split}")
        y = getattr(self.data, f"y_{split}")
        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)

    @torch.no_grad()
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) in eval mode, in chunks to bound memory."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for i in range(0, len(y), self.cfg.eval_batch_size):
            xb, yb = x[i : i + self.cfg.eval_batch_size], y[i : i + self.cfg.eval_batch_size]
            with self.autocast():
                logits = self.model(xb)
            loss_sum += nn.functional.cross_entropy(logits.float(), yb, reduction="sum")
            correct += (logits.argmax(dim=1) == yb).sum()
        n = max(len(y), 1)
        return loss_sum.item() / n, correct.item() / n

    def _release(self) -> None:
        # After an OOM, free what this run holds so the worker can go on with the next trial.
        self.model.to("cpu")
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _result(
        self,
        status: str,
        message: str,
        history: list[EpochRecord],
        start: float,
        *,
        failed_epoch: int | None = None,
        test: tuple[float, float] | None = None,
        weights: dict[str, torch.Tensor] | None = None,
        early_stopped: bool = False,
    ) -> TrainResult:
        scored = [r for r in history if r.val_accuracy is not None and r.val_loss is not None]
        best = None
        if scored and status != "diverged":
            if self.cfg.metric == "val_accuracy":
                best = max(scored, key=lambda r: (r.val_accuracy, -r.epoch))
            else:
                best = min(scored, key=lambda r: (r.val_loss, r.epoch))
        return TrainResult(
            status=status,
            message=message,
            history=tuple(history),
            best_epoch=best.epoch if best else None,
            val_accuracy=best.val_accuracy if best else None,
            val_loss=best.val_loss if best else None,
            train_loss=history[-1].train_loss if history else None,
            test_loss=test[0] if test else None,
            test_accuracy=test[1] if test else None,
            seconds_total=time.perf_counter() - start,
            n_params=self.n_params,
            device=str(self.device),
            failed_epoch=failed_epoch,
            early_stopped=early_stopped,
            config=self.config,
            weights=weights,
        )
