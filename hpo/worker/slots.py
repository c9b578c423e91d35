"""Several slots: one `hpo worker` child process per GPU slot, each pinned with
CUDA_VISIBLE_DEVICES; the parent forwards signals and waits for them."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from types import FrameType

from hpo.worker.options import WorkerOptions, slot_command

log = logging.getLogger("hpo.worker")


def visible_gpus(gpus: str) -> list[str]:
    """GPU indices to use: "all" (every GPU torch sees) or "0,1"."""
    if gpus != "all":
        return [g.strip() for g in gpus.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def supervise(options: WorkerOptions, gpus: list[str], slots_per_device: int) -> int:
    """Run one child process per slot, each pinned to its GPU; forward signals to them."""
    children: list[subprocess.Popen[bytes]] = []
    for gpu in gpus:
        for slot in range(slots_per_device):
            argv, env = slot_command(options, gpu, slot)
            log.info("starting slot %d on GPU %s", slot, gpu)
            children.append(subprocess.Popen(argv, env=env))

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    while any(child.poll() is None for child in children):
        time.sleep(0.2)
    return max(codes, default=0)
