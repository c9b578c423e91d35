"""The command-trial SDK: what a training script needs from a worker, in four names::

    from hpo import trial

    lr = float(trial.params.get("lr", 1e-3))
    for epoch in range(epochs):
        ...
        if trial.report(epoch, val_accuracy, train_loss=loss):
            break                                   # the pruner says stop
    torch.save(model.state_dict(), trial.checkpoint_dir / "last.pt")

- `trial.params`: the trial's params (HPO_PARAMS under a worker; run by hand, the script's own
  `--name value` / `--name=value` arguments, numbers and true/false read as such).
- `trial.report(step, value, **metrics)`: prints the report line the worker reads (the study's
  metric is `value`), waits for the worker's answer, and returns whether to stop. Run by hand it
  reports nothing and returns False.
- `trial.should_prune()`: whether the worker has said stop (any time, without reporting).
- `trial.checkpoint_dir` / `trial.output_dir`: this attempt's directories (run by hand: ones
  under ./hpo-run/).

The protocol underneath (hpo.trial_protocol) is plain stdout lines and a control file, so a
script without this import works too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from hpo.trial_protocol import (
    ENV_CHECKPOINT_DIR,
    ENV_CONTROL_FILE,
    ENV_METRIC,
    ENV_OUTPUT_DIR,
    ENV_PARAMS,
    ENV_TRIAL_ID,
    read_control,
    report_line,
)

# params, checkpoint_dir and output_dir are module attributes read when first used
# (__getattr__ below).
__all__ = ["report", "should_prune", "under_worker"]

# How long a report waits for the worker's answer before training goes on (the worker answers
# at once while its API is unreachable, so this only bounds a worker that is itself stuck).
ANSWER_WAIT_SECONDS = 60.0
_POLL_SECONDS = 0.002

_reports_sent = 0
_cache: dict[str, Any] = {}


def under_worker() -> bool:
    """True when a worker runs this script (it set HPO_TRIAL_ID)."""
    return bool(os.environ.get(ENV_TRIAL_ID))


def report(step: int, value: float, *, final: bool = False, **metrics: float) -> bool:
    """Report the study's metric at `step` (other numbers as metrics); True when the trial
    should stop. `final=True`: this value is the result, whatever is reported after."""
    global _reports_sent
    if not under_worker():
        return False
    metric = os.environ.get(ENV_METRIC, "value")
    line = report_line(
        metric, float(value), int(step), final, **{k: float(v) for k, v in metrics.items()}
    )
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    _reports_sent += 1
    control = _control_file()
    if control is None:
        return False
    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = read_control(control)
        if answer.answered >= _reports_sent or answer.stop:
            return answer.stop
        time.sleep(_POLL_SECONDS)
    return False


def should_prune() -> bool:
    """True once the worker has said this trial should stop."""
    control = _control_file()
    return control is not None and read_control(control).stop


def _control_file() -> Path | None:
    path = os.environ.get(ENV_CONTROL_FILE)
    return Path(path) if path and under_worker() else None


def _params_from_argv(argv: list[str]) -> dict[str, Any]:
    """`--lr 0.01 --width=32 --amp` as {"lr": 0.01, "width": 32, "amp": True}."""
    found: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("--") or arg == "--":
            continue
        name, eq, text = arg[2:].partition("=")
        if not eq:
            if i < len(argv) and not argv[i].startswith("--"):
                text = argv[i]
                i += 1
            else:
                found[name.replace("-", "_")] = True
                continue
        found[name.replace("-", "_")] = _value(text)
    return found


def _value(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) else text


def _directory(env: str, local: str) -> Path:
    path = Path(os.environ.get(env) or Path("hpo-run") / local)
    path.mkdir(parents=True, exist_ok=True)
    return path


def __getattr__(name: str) -> Any:
    # Read when first used (PEP 562), so a script may set the environment before.
    if name == "params":
        if "params" not in _cache:
            given = os.environ.get(ENV_PARAMS)
            _cache["params"] = json.loads(given) if given else _params_from_argv(sys.argv[1:])
        return _cache["params"]
    if name == "checkpoint_dir":
        return _directory(ENV_CHECKPOINT_DIR, "checkpoint")
    if name == "output_dir":
        return _directory(ENV_OUTPUT_DIR, "output")
    raise AttributeError(f"module 'hpo.trial' has no attribute {name!r}")
