"""A training run's state after each epoch, so a run that was stopped (its worker killed)
resumes where it was: weights, optimizer and schedule position, both random generators,
the history so far and the early-stopping bookkeeping. Resuming from it gives the same
numbers as a run never stopped, on the CPU (tests/unit/trainers/test_checkpoint.py).

One file per run directory, written under a hidden name and renamed, so a reader (the
worker uploading it) never sees half of one. A checkpoint made for another config (the
fingerprint differs) is ignored: the run starts fresh rather than mixing two runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainers.result import EpochRecord

CHECKPOINT_FILE = "training-state.pt"


@dataclass
class TrainingState:
    epoch: int  # the last finished epoch (1-based)
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    shuffle_rng: torch.Tensor  # the epoch-permutation generator's state
    global_rng: torch.Tensor  # torch's CPU generator (dropout on the CPU)
    cuda_rng: list[torch.Tensor] | None
    history: list[EpochRecord]
    best: float
    best_state: dict[str, torch.Tensor] | None
    stale: int


def fingerprint(config: dict[str, Any]) -> str:
    """Which run a checkpoint belongs to: the resolved model, training config and dataset."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def save_state(directory: Path, state: TrainingState, run: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{CHECKPOINT_FILE}.partial"
    payload = {
        "run": run,
        "epoch": state.epoch,
        "model": state.model,
        "optimizer": state.optimizer,
        "shuffle_rng": state.shuffle_rng,
        "global_rng": state.global_rng,
        "cuda_rng": state.cuda_rng,
        "history": [record.__dict__ for record in state.history],
        "best": state.best,
        "best_state": state.best_state,
        "stale": state.stale,
    }
    torch.save(payload, partial)
    os.replace(partial, directory / CHECKPOINT_FILE)


def load_state(directory: Path, run: str, device: torch.device) -> TrainingState | None:
    """The checkpoint in `directory` for `run`, or None (none there, or another run's)."""
    path = directory / CHECKPOINT_FILE
    if not path.is_file():
        return None
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("run") != run:
        return None
    return TrainingState(
        epoch=int(payload["epoch"]),
        model=payload["model"],
        optimizer=payload["optimizer"],
        shuffle_rng=payload["shuffle_rng"].to("cpu"),
        global_rng=payload["global_rng"].to("cpu"),
        cuda_rng=[t.to("cpu") for t in payload["cuda_rng"]] if payload["cuda_rng"] else None,
        history=[EpochRecord(**record) for record in payload["history"]],
        best=float(payload["best"]),
        best_state=payload["best_state"],
        stale=int(payload["stale"]),
    )
