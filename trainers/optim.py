"""Optimizers and learning-rate schedules.

A schedule is a pure function of training progress that returns a multiplier of the base
learning rate; the loop sets it on every step. That keeps every schedule (and warmup) to a line
or two of arithmetic, testable without a model, and costs nothing when the schedule is constant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import partial

import torch

from trainers.errors import check_choice

# The names live with the config that validates them (which imports without torch).
from trainers.train_config import OPTIMIZERS, SCHEDULES

__all__ = ["OPTIMIZERS", "SCHEDULES", "Schedule", "is_constant", "make_optimizer", "make_schedule"]


def make_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
) -> torch.optim.Optimizer:
    """`momentum` applies to momentum and nesterov only; plain sgd has none by definition."""
    check_choice("optimizer", name, OPTIMIZERS)
    if name in ("sgd", "momentum", "nesterov"):
        m = 0.0 if name == "sgd" else momentum
        return torch.optim.SGD(
            params, lr=lr, momentum=m, nesterov=name == "nesterov", weight_decay=weight_decay
        )
    factories: dict[str, Callable[..., torch.optim.Optimizer]] = {
        "adam": torch.optim.Adam,  # weight decay as L2 in the gradient
        "adamw": torch.optim.AdamW,  # decoupled weight decay
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
        "adadelta": torch.optim.Adadelta,
    }
    return factories[name](params, lr=lr, weight_decay=weight_decay)


# A schedule maps progress in epochs (fractional: 2.5 is halfway through the third epoch)
# to a multiplier of the base learning rate.
Schedule = Callable[[float], float]


def make_schedule(
    name: str,
    *,
    epochs: int,
    gamma: float | None = None,
    step_size: int | None = None,
    milestones: tuple[int, ...] | None = None,
    power: float = 1.0,
    cycle_epochs: float | None = None,
    min_lr_fraction: float = 0.0,
    warmup_epochs: float = 0.0,
) -> Schedule:
    """Build the multiplier for `name`; None options take a default that suits `epochs`.

    step: x gamma (0.1) every step_size epochs (a third of the run).
    multistep: x gamma (0.1) at each milestone (half and three quarters of the run).
    exponential: x gamma (0.9) per epoch, smoothly.
    cosine / polynomial: from 1 down to min_lr_fraction at the end.
    onecycle: up from 1/25 to 1 over the first 30%, then cosine down to ~0 (as torch's OneCycleLR).
    cyclic: triangular waves between min_lr_fraction (0.1 if 0) and 1, one per cycle_epochs.
    warmup_epochs: a linear ramp from ~0 multiplied onto any of them.
    """
    check_choice("schedule", name, SCHEDULES)
    total = float(max(epochs, 1))
    base: Schedule
    if name == "constant":
        base = _constant
    elif name == "step":
        base = partial(_step, size=step_size or max(1, epochs // 3), gamma=_or(gamma, 0.1))
    elif name == "multistep":
        marks = milestones or (max(1, epochs // 2), max(1, (3 * epochs) // 4))
        base = partial(_multistep, marks=marks, gamma=_or(gamma, 0.1))
    elif name == "exponential":
        base = partial(_exponential, gamma=_or(gamma, 0.9))
    elif name == "cosine":
        base = partial(_cosine, total=total, floor=min_lr_fraction)
    elif name == "polynomial":
        base = partial(_polynomial, total=total, floor=min_lr_fraction, power=power)
    elif name == "onecycle":
        base = partial(_one_cycle, total=total)
    else:
        period = cycle_epochs or max(2.0, total / 4)
        base = partial(_cyclic, period=period, low=min_lr_fraction or 0.1)
    if warmup_epochs <= 0:
        return base
    return partial(_warmup, base=base, warmup=warmup_epochs)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _constant(e: float) -> float:
    return 1.0


def _step(e: float, size: int, gamma: float) -> float:
    return float(gamma ** math.floor(e / size))


def _multistep(e: float, marks: tuple[int, ...], gamma: float) -> float:
    return float(gamma ** sum(e >= m for m in marks))


def _exponential(e: float, gamma: float) -> float:
    return float(gamma**e)


def _cosine(e: float, total: float, floor: float) -> float:
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(e / total, 1.0)))


def _polynomial(e: float, total: float, floor: float, power: float) -> float:
    return floor + (1 - floor) * float((1 - min(e / total, 1.0)) ** power)


def _one_cycle(e: float, total: float) -> float:
    # As torch's OneCycleLR: cosine up from 1/25 over the first 30%, then down to 1/25e4.
    t, peak_at, start, end = e / total, 0.3, 1 / 25, 1 / 25e4
    if t < peak_at:
        return start + (1 - start) * 0.5 * (1 - math.cos(math.pi * t / peak_at))
    u = min((t - peak_at) / (1 - peak_at), 1.0)
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * u))


def _cyclic(e: float, period: float, low: float) -> float:
    return low + (1 - low) * (1 - abs(2 * ((e / period) % 1) - 1))  # triangle: low, 1, low


def _warmup(e: float, base: Schedule, warmup: float) -> float:
    # The small offset makes the very first step's rate tiny rather than exactly zero.
    return base(e) * min(1.0, (e + 1e-3) / warmup)


def is_constant(schedule: Schedule) -> bool:
    return schedule is _constant
