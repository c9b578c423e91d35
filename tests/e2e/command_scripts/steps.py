"""A command-trial script that resumes: a report every `STEP_SECONDS`, its next step written to
HPO_CHECKPOINT_DIR before each report, read back when it starts. Deterministic, no torch.

Prints `stdout step N` / `stderr step N` lines too (the log tests compare them; BULK_LINES
lines of 1 KiB first, for the log's cap), records its
pid in PIDS_DIR/attempt-N (the kill tests look for it), and leaves HPO_OUTPUT_DIR/result.json.
Its result says the step it resumed from (`resumed_from`) and how many it ran (`steps_run`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

STEPS = int(os.environ.get("STEPS", "12"))
STEP_SECONDS = float(os.environ.get("STEP_SECONDS", "0.3"))


def value(step: int) -> float:
    """The score reported at `step`; the tests compute the same."""
    return round(1.0 / (step + 1), 6)


def say(line: str, stream: TextIO = sys.stdout) -> None:
    """Print, going on when nobody reads any more (like a script that trains for an hour
    between two lines): a lost worker's pipes must not be what stops it."""
    with contextlib.suppress(BrokenPipeError):
        print(line, file=stream, flush=True)


def main() -> int:
    checkpoint = Path(os.environ["HPO_CHECKPOINT_DIR"]) / "step.json"
    attempt = os.environ.get("HPO_ATTEMPT", "1")
    if os.environ.get("PIDS_DIR"):
        (Path(os.environ["PIDS_DIR"]) / f"attempt-{attempt}").write_text(str(os.getpid()))
    start = json.loads(checkpoint.read_text())["next"] if checkpoint.exists() else 0
    say(f"attempt {attempt} starts at step {start}", sys.stderr)
    for i in range(int(os.environ.get("BULK_LINES", "0"))):  # the log's size cap
        say(f"bulk {i:06d} " + "x" * 1000)
    for step in range(start, STEPS):
        time.sleep(STEP_SECONDS)
        # Whole, under a hidden name first: an upload never sees half a file.
        hidden = checkpoint.with_name(".step.json.tmp")
        hidden.write_text(json.dumps({"next": step + 1}))
        hidden.replace(checkpoint)
        say(f"stderr step {step}", sys.stderr)
        say(f"stdout step {step}")
        say(json.dumps({"step": step, "score": value(step)}))
    result = {"score": value(STEPS - 1), "resumed_from": start, "steps_run": STEPS - start}
    output = Path(os.environ["HPO_OUTPUT_DIR"])
    (output / "result.json").write_text(json.dumps(result))
    (output / "weights").mkdir()
    (output / "weights" / "w.txt").write_text(f"trained {STEPS} steps\n")
    say(json.dumps({**result, "final": True}))
    return 0


if __name__ == "__main__":
    code = main()
    # The streams may be closed (see `say`): no flush at exit that could fail.
    os._exit(code)
