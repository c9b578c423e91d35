"""Training hyperparameters: a frozen config that validates and normalizes on construction.

Imports without torch (the service validates study specs with it); torch is loaded only to
resolve a device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from trainers.errors import (
    ConfigError,
    check_choice,
    check_float,
    check_fraction,
    check_int,
    normalize,
)

if TYPE_CHECKING:
    import torch

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = (
    "constant",
    "step",
    "multistep",
    "exponential",
    "cosine",
    "polynomial",
    "onecycle",
    "cyclic",
)

METRICS = ("val_accuracy", "val_loss")  # accuracy is maximized, loss minimized
DEVICES = ("auto", "cpu", "cuda", "cuda:N")


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
    import torch

    name = _parse_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} requested but no CUDA device is available; use cpu or auto"
        )
    return torch.device(name)
