"""What a training run returns: classified status, per-epoch history and summary metrics."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# completed: ran its epochs (or stopped early on patience); stopped: the on_epoch callback asked
# to stop (a pruned trial); diverged: the loss became NaN or infinite; oom: out of device memory.
STATUSES = ("completed", "stopped", "diverged", "oom")


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float  # mean of the batch losses (with label smoothing, if any)
    val_loss: float | None  # plain cross-entropy; None when training on train + validation
    val_accuracy: float | None  # in [0, 1]
    seconds: float  # wall time of the epoch, evaluation included
    lr: float  # learning rate at the end of the epoch


@dataclass(frozen=True, eq=False)
class TrainResult:
    status: str
    message: str  # why it ended, for a person
    history: tuple[EpochRecord, ...]
    best_epoch: int | None  # by the configured metric; None without validation
    val_accuracy: float | None  # at the best epoch
    val_loss: float | None  # at the best epoch
    train_loss: float | None  # of the last epoch run
    test_accuracy: float | None  # only when asked (final training); of the weights returned
    test_loss: float | None
    seconds_total: float
    n_params: int
    device: str
    failed_epoch: int | None = None  # the epoch that diverged or ran out of memory
    early_stopped: bool = False
    # Median ms of one inference batch (the training batch size) on `device`, after training
    # (trainers/latency.py); None when the run did not finish (diverged, out of memory).
    latency_ms: float | None = None
    config: dict[str, Any] = field(default_factory=dict)  # resolved model and training config
    # The best epoch's weights (the last epoch's without validation), on the CPU, when asked.
    weights: dict[str, torch.Tensor] | None = None
    # Epochs restored from a checkpoint rather than trained by this run (0: a fresh run).
    resumed_from: int = 0

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "stopped")

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds_total / len(self.history) if self.history else 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (no weights; NaN and infinity become None)."""
        skip = ("weights", "history")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        out["epochs_run"] = self.epochs_run
        out["seconds_per_epoch"] = self.seconds_per_epoch
        out["history"] = [asdict(r) for r in self.history]
        return _json_safe(out)  # type: ignore[no-any-return]


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
