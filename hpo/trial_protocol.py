"""How a command trial's script and its worker talk: plain files and lines, no import needed.

- The worker tells the script its trial in the environment: `HPO_PARAMS` (JSON: the searched
  and fixed values), `HPO_TRIAL_ID`, `HPO_STUDY_ID`, `HPO_ATTEMPT`, `HPO_CHECKPOINT_DIR` and
  `HPO_OUTPUT_DIR` (fresh directories of this attempt), `HPO_METRIC` (the study's metric) and
  `HPO_CONTROL_FILE`.
- The script reports by printing JSON objects on stdout, one a line, that hold the metric:
  `{"step": 3, "val_accuracy": 0.91}`. The last report is the trial's value unless a line with
  `"final": true` gives it; the other numbers in the lines are kept as metrics. Anything else
  on stdout is just output.
- After each report the worker writes the control file (`{"answered": N, "stop": bool}`,
  replaced atomically): how many reports it has handled and whether the trial should stop (the
  pruner said so). A script that never reads it is stopped with SIGTERM instead.

The SDK (`from hpo import trial`) is these rules in a few functions; stdlib only, so importing
it costs a script nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PARAMS = "HPO_PARAMS"
ENV_TRIAL_ID = "HPO_TRIAL_ID"
ENV_STUDY_ID = "HPO_STUDY_ID"
ENV_ATTEMPT = "HPO_ATTEMPT"
ENV_CHECKPOINT_DIR = "HPO_CHECKPOINT_DIR"
ENV_OUTPUT_DIR = "HPO_OUTPUT_DIR"
ENV_METRIC = "HPO_METRIC"
ENV_CONTROL_FILE = "HPO_CONTROL_FILE"

_NOT_METRICS = ("step", "final")


@dataclass(frozen=True)
class Report:
    """One report line: the metric's value (may be NaN or infinite: a diverged run), its step
    when the line gave one, the line's other numbers, and whether it is the final result."""

    value: float
    step: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    final: bool = False


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float (10**400): no number to report
        return None


def parse_report(line: str, metric: str) -> Report | None:
    """The report in one stdout line, or None when the line is no JSON object holding a
    number under `metric`."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = _number(data.get(metric))
    if value is None:
        return None
    step = data.get("step")
    metrics = {}
    for key, item in data.items():
        number = _number(item)
        if key != metric and key not in _NOT_METRICS and number is not None:
            metrics[str(key)] = number
    return Report(
        value=value,
        step=step if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else None,
        metrics=metrics,
        final=data.get("final") is True,
    )


def report_line(metric: str, value: float, step: int, final: bool, **metrics: float) -> str:
    """The line the SDK prints for a report (non-finite values spelt NaN/Infinity, as Python's
    json writes and reads them)."""
    data: dict[str, object] = {"step": step, metric: value, **metrics}
    if final:
        data["final"] = True
    return json.dumps(data, allow_nan=True)


@dataclass(frozen=True)
class Control:
    answered: int = 0
    stop: bool = False


def write_control(path: Path, control: Control) -> None:
    """Replace the control file at once: a reader sees the old answer or the new, never half."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"answered": control.answered, "stop": control.stop}))
    os.replace(partial, path)


def read_control(path: Path) -> Control:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return Control()
    if not isinstance(data, dict):
        return Control()
    answered = data.get("answered")
    return Control(
        answered=answered if isinstance(answered, int) else 0, stop=data.get("stop") is True
    )


def is_finite(value: float) -> bool:
    return math.isfinite(value)
