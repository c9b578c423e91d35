"""Inference latency of a trained model: milliseconds per batch on the trial's device.

What a deployment budget (`constraints: [{metric: latency_ms, max: 2.0}]`) is about: one
forward pass over one batch, in eval mode, without gradients, after warm-up passes (the first
ones pay for kernel selection and allocator growth). The median of the timed passes is
reported, so one preempted pass on a shared machine does not decide it. On CUDA the device is
synchronized around each pass, so the time is the kernels' and not the launch's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import nn

WARMUP_PASSES = 3
TIMED_PASSES = 10


@torch.no_grad()
def latency_ms(
    model: nn.Module,
    batch: torch.Tensor,
    autocast: Callable[[], AbstractContextManager[object]],
    *,
    warmup: int = WARMUP_PASSES,
    timed: int = TIMED_PASSES,
) -> float:
    """Median milliseconds of one forward pass of `model` over `batch` (on its device)."""
    model.eval()
    cuda = batch.device.type == "cuda"
    times = []
    for i in range(warmup + timed):
        if cuda:
            torch.cuda.synchronize(batch.device)
        start = time.perf_counter()
        with autocast():
            model(batch)
        if cuda:
            torch.cuda.synchronize(batch.device)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))
