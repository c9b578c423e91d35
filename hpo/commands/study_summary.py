"""What `hpo study show` and the leaderboard say about a study besides its table: the state
and why it is paused, trials by state, the best value, the most common failure."""

from __future__ import annotations

from typing import Any

STATES = ("queued", "running", "completed", "pruned", "failed")


def summary_lines(info: dict[str, Any]) -> list[str]:
    """`hpo study show`'s text, e.g.::

    study 3 mlp-mnist1d: paused (sampler tpe, pruner asha, direction maximize)
    paused: 3 trials in a row failed with: unknown dataset 'mnist2d'; valid: ...
    trials: 3/50 finished; 0 queued, 0 running, 0 completed, 0 pruned, 3 failed
    best: - (no completed trial)
    most common failure: 3 x config: unknown dataset 'mnist2d'; valid: ...
    """
    counts = info.get("counts") or {}
    finished = sum(counts.get(s, 0) for s in ("completed", "pruned", "failed"))
    lines = [
        f"study {info['id']} {info['name']}: {info['state']} (sampler {info['sampler']}, "
        f"pruner {info['pruner']}, direction {info['direction']})"
    ]
    if info["state"] == "paused" and info.get("paused_reason"):
        lines.append(str(info["paused_reason"]))
    by_state = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
    lines.append(f"trials: {finished}/{info['n_trials']} finished; {by_state}")
    best = info.get("best")
    if best and best.get("value") is not None:
        metric = info["spec"]["task"].get("metric", "value")
        lines.append(f"best: {metric} {best['value']:.4f} (trial {best['number']})")
    else:
        lines.append("best: - (no completed trial)")
    failures = info.get("failures") or []
    if failures:
        top = failures[0]
        lines.append(f"most common failure: {top['count']} x {_describe(top)}")
    return lines


def why_not_running(info: dict[str, Any]) -> str | None:
    """A line under the leaderboard when it may look wrong: the study is paused (and why),
    or trials failed (the most common reason)."""
    if info["state"] == "paused" and info.get("paused_reason"):
        return str(info["paused_reason"])
    failures = info.get("failures") or []
    if failures:
        return f"most common failure: {failures[0]['count']} x {_describe(failures[0])}"
    return None


def _describe(failure: dict[str, Any]) -> str:
    message = failure.get("message") or ""
    return f"{failure['failure_class']}: {message}" if message else str(failure["failure_class"])
