"""A worker's warm-up before its first claim: import torch and the trainers, and train one tiny
batch on the device, so that the first trial does not also pay for the imports, CUDA's context
and the first kernels (seconds, measured in issue 12). Never imports `hpo`."""

from __future__ import annotations

import importlib
import time

# What a trial imports (hpo/worker/trial.py): loaded here, so the first trial finds them loaded.
_TRAINER_MODULES = ("trainers.config", "trainers.errors")


def warm_up(device: str) -> float:
    """Import the trainers and run one forward/backward/step of a tiny MLP on `device`
    ("cpu", "cuda", "cuda:N"). Returns the seconds it took."""
    start = time.perf_counter()
    for name in _TRAINER_MODULES:
        importlib.import_module(name)
    import torch
    from torch import nn

    target = torch.device(device)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)).to(target)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = torch.randn(4, 8, device=target)
    labels = torch.tensor([0, 1, 0, 1], device=target)
    loss = nn.functional.cross_entropy(model(inputs), labels)
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it untyped
    optimizer.step()
    if target.type == "cuda":
        torch.cuda.synchronize(target)  # the kernels ran, not just queued
    return time.perf_counter() - start
