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
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from trainers.checkpoint import TrainingState, fingerprint, load_state, save_state
from trainers.data import Dataset
from trainers.latency import latency_ms
from trainers.models import ModelConfig, build_model, count_parameters
from trainers.optim import Schedule, is_constant, make_optimizer, make_schedule
from trainers.result import EpochRecord, TrainResult
from trainers.train_config import METRICS, TrainConfig, resolve_device

__all__ = ["METRICS", "OnEpoch", "TrainConfig", "resolve_device", "train"]

# Called after each epoch with (epoch, validation metric, train loss); a truthy return stops the
# run with status "stopped" (how a pruner ends a trial). The metric is NaN without validation.
OnEpoch = Callable[[int, float, float], object]


def train(
    model_cfg: ModelConfig,
    data: Dataset,
    cfg: TrainConfig,
    on_epoch: OnEpoch | None = None,
    *,
    evaluate_test: bool = False,
    keep_weights: bool = False,
    checkpoint_dir: Path | None = None,
) -> TrainResult:
    """Train a fresh model on `data.x_train`, validating each epoch when `data` has a validation
    split. `evaluate_test` also scores the returned weights on the test split: only final
    training should ask, so a search never sees test. Never raises for NaN loss or out of memory.

    `checkpoint_dir`: the run's state is saved there after each epoch (trainers.checkpoint),
    before `on_epoch` is called; a checkpoint of this same run found there at the start is
    resumed from (its epochs are not trained, nor passed to `on_epoch`, again).
    """
    device = resolve_device(cfg.device)
    threads = cfg.threads if device.type == "cpu" and cfg.threads else None
    with _cpu_threads(threads), _deterministic_cudnn(device.type == "cuda"):
        run = _Run(model_cfg, data, cfg, device, checkpoint_dir)
        return run.run(on_epoch, evaluate_test, keep_weights)


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
        self,
        model_cfg: ModelConfig,
        data: Dataset,
        cfg: TrainConfig,
        device: torch.device,
        checkpoint_dir: Path | None = None,
    ):
        self.cfg, self.data, self.device = cfg, data, device
        self.checkpoint_dir = checkpoint_dir
        self.resumed_from = 0  # epochs restored from a checkpoint
        self.config = {
            "model": asdict(model_cfg),
            "train": asdict(cfg),
            "device": str(device),
            "dataset": data.name,
        }
        # The model is built in run(), inside its out-of-memory handling: a width of 10^9 is a
        # valid config, just not a trainable one.
        self.model_cfg, self.model, self.n_params = model_cfg, nn.Module(), 0
        self.autocast: Callable[[], contextlib.AbstractContextManager[object]] = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if device.type == "cuda"
            else contextlib.nullcontext
        )

    def run(self, on_epoch: OnEpoch | None, evaluate_test: bool, keep_weights: bool) -> TrainResult:
        start = time.perf_counter()
        history: list[EpochRecord] = []
        try:
            self.model = self._build()
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
        latency = self._latency()
        weights = None
        if keep_weights:
            weights = {k: v.detach().to("cpu").clone() for k, v in self.model.state_dict().items()}
        return self._result(
            status,
            message,
            history,
            start,
            test=test,
            weights=weights,
            early_stopped=early,
            latency=latency,
        )

    def _latency(self) -> float:
        """Milliseconds per inference batch (the training batch size) on this device."""
        x = self.data.x_val if len(self.data.x_val) else self.data.x_train
        batch = torch.from_numpy(x[: self.cfg.batch_size]).to(self.device)
        return latency_ms(self.model, batch, self.autocast)

    def _build(self) -> nn.Module:
        # Seed first: initialization (and later dropout) draw from the global generator.
        torch.manual_seed(self.cfg.seed)
        data = self.data
        model = build_model(
            self.model_cfg, kind=data.kind, input_shape=data.input_shape, n_classes=data.n_classes
        )
        self.n_params = count_parameters(model)
        return model.to(self.device)

    def _epochs(
        self, history: list[EpochRecord], on_epoch: OnEpoch | None, keep_best: bool
    ) -> tuple[str, str, dict[str, torch.Tensor] | None, bool]:
        cfg = self.cfg
        x, y = self._tensors("train")
        val = self._tensors("val")
        has_val = len(self.data.y_val) > 0
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
        generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        sign = 1.0 if cfg.metric == "val_accuracy" else -1.0
        best, best_state, stale = -math.inf, None, 0
        run_id = fingerprint(self.config)
        restored = self._restore(run_id, optimizer, generator, history)
        if restored is not None:
            best, best_state, stale = restored.best, restored.best_state, restored.stale
            if not keep_best:
                best_state = None
            if has_val and cfg.patience and stale >= cfg.patience:
                # The checkpointed epoch was the one that stopped the run early.
                message = f"early stop: no improvement for {stale} epochs"
                return "completed", message, best_state, True
        for epoch in range(len(history) + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            train_loss, lr = self._train_epoch(epoch, x, y, optimizer, schedule, loss_fn, generator)
            val_loss, val_acc = self._evaluate(*val) if has_val else (None, None)
            seconds = time.perf_counter() - t0
            history.append(EpochRecord(epoch, train_loss, val_loss, val_acc, seconds, lr))
            for name, loss in (("training", train_loss), ("validation", val_loss)):
                if loss is not None and not math.isfinite(loss):
                    return "diverged", f"{name} loss became {loss} at epoch {epoch}", None, False
            value = math.nan
            if val_acc is not None and val_loss is not None:
                value = val_acc if cfg.metric == "val_accuracy" else val_loss
                stale += 1
                if sign * value > best:
                    best, stale = sign * value, 0
                    if keep_best:
                        best_state = {
                            k: v.detach().clone() for k, v in self.model.state_dict().items()
                        }
            if self.checkpoint_dir is not None:
                self._checkpoint(
                    run_id, epoch, optimizer, generator, history, best, best_state, stale
                )
            if on_epoch is not None and on_epoch(epoch, value, train_loss):
                return "stopped", f"stopped by the callback after epoch {epoch}", best_state, False
            if has_val and cfg.patience and stale >= cfg.patience:
                message = f"early stop: no improvement for {stale} epochs"
                return "completed", message, best_state, True
        return "completed", f"trained {cfg.epochs} epochs", best_state, False

    def _restore(
        self,
        run_id: str,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        history: list[EpochRecord],
    ) -> TrainingState | None:
        """Load this run's checkpoint, if there is one: the weights, the optimizer, both
        generators and the history, as they were after its last epoch."""
        if self.checkpoint_dir is None:
            return None
        state = load_state(self.checkpoint_dir, run_id, self.device)
        if state is None or state.epoch >= self.cfg.epochs + 1:
            return None
        self.model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        generator.set_state(state.shuffle_rng)
        torch.set_rng_state(state.global_rng)
        if state.cuda_rng is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state.cuda_rng)
        history.extend(state.history)
        self.resumed_from = state.epoch
        return state

    def _checkpoint(
        self,
        run_id: str,
        epoch: int,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        history: list[EpochRecord],
        best: float,
        best_state: dict[str, torch.Tensor] | None,
        stale: int,
    ) -> None:
        assert self.checkpoint_dir is not None
        cuda = torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None
        state = TrainingState(
            epoch=epoch,
            model=self.model.state_dict(),
            optimizer=optimizer.state_dict(),
            shuffle_rng=generator.get_state(),
            global_rng=torch.get_rng_state(),
            cuda_rng=cuda,
            history=list(history),
            best=best,
            best_state=best_state,
            stale=stale,
        )
        save_state(self.checkpoint_dir, state, run_id)

    def _train_epoch(
        self,
        epoch: int,
        x: torch.Tensor,
        y: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        loss_fn: nn.Module,
        generator: torch.Generator,
    ) -> tuple[float, float]:
        """One pass over the shuffled training data; returns (mean batch loss, last lr)."""
        cfg = self.cfg
        n = len(y)
        # A last batch of one sample would break batch norm; drop it (the next epoch reshuffles).
        n_used = n - 1 if n % cfg.batch_size == 1 and n > 1 else n
        starts = range(0, n_used, cfg.batch_size)
        constant_lr, lr = is_constant(schedule), cfg.lr
        self.model.train()
        perm = torch.randperm(n, generator=generator, device=self.device)
        xs, ys = x[perm], y[perm]  # one gather per epoch; the batches below are views
        loss_sum = torch.zeros((), device=self.device)
        for b, i in enumerate(starts):
            if not constant_lr:
                lr = cfg.lr * schedule(epoch - 1 + b / len(starts))
                for group in optimizer.param_groups:
                    group["lr"] = lr
            with self.autocast():
                loss = loss_fn(self.model(xs[i : i + cfg.batch_size]), ys[i : i + cfg.batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            optimizer.step()
            loss_sum += loss.detach()  # stays on the device: no per-batch sync
        return loss_sum.item() / len(starts), lr

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
        self.model = nn.Module()
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
        latency: float | None = None,
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
            latency_ms=latency,
            device=str(self.device),
            failed_epoch=failed_epoch,
            early_stopped=early_stopped,
            config=self.config,
            weights=weights,
            resumed_from=self.resumed_from,
        )
