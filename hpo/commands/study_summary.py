"""What `hpo study show` and the leaderboard say about a study besides its table: the state
and why it is paused, trials by state, the best value, the most common failure."""

from __future__ import annotations

from hpo.wire import StudyView

STATES = ("queued", "running", "completed", "pruned", "failed")


def summary_lines(info: StudyView) -> list[str]:
    """`hpo study show`'s text, e.g.::

    study 3 mlp-mnist1d: paused (sampler tpe, pruner asha, direction maximize)
    paused: 3 trials in a row failed with: unknown dataset 'mnist2d'; valid: ...
    trials: 3/50 finished; 0 queued, 0 running, 0 completed, 0 pruned, 3 failed
    best: - (no completed trial)
    most common failure: 3 x config: unknown dataset 'mnist2d'; valid: ...
    """
    counts = info.counts
    lines = [
        f"study {info.id} {info.name}: {info.state} (sampler {info.sampler}, "
        f"pruner {info.pruner}, direction {info.direction})"
    ]
    if info.state == "paused" and info.paused_reason:
        lines.append(str(info.paused_reason))
    if info.waiting_for:
        lines.append(f"waiting: {info.waiting_for} (start one: hpo worker --pool {info.pool})")
    by_state = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
    lines.append(f"trials: {info.n_finished}/{info.n_trials} finished; {by_state}")
    best = info.best
    if best is not None and best.value is not None:
        metric = info.spec["task"].get("metric", "value")
        lines.append(f"best: {metric} {best.value:.4f} (trial {best.number})")
    else:
        lines.append("best: - (no completed trial)")
    if info.failures:
        top = info.failures[0]
        lines.append(f"most common failure: {top.count} x {top.describe()}")
    return lines


def why_not_running(info: StudyView) -> str | None:
    """A line under the leaderboard when it may look wrong: the study is paused (and why),
    no live worker serves its pool, or trials failed (the most common reason)."""
    if info.state == "paused" and info.paused_reason:
        return str(info.paused_reason)
    if info.waiting_for:  # nobody to train it: more telling than its past failures
        return f"waiting: {info.waiting_for}"
    if info.failures:
        return f"most common failure: {info.failures[0].count} x {info.failures[0].describe()}"
    return None
