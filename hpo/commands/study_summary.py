"""What `hpo study show` and the leaderboard say about a study besides its table: the state
and why it is paused, trials by state, the best value, the most common failure."""

from __future__ import annotations

from hpo.wire import BudgetUse, StudyView

STATES = ("queued", "running", "completed", "pruned", "failed")


def summary_lines(info: StudyView) -> list[str]:
    """`hpo study show`'s text, e.g.::

    study 3 mlp-mnist1d: paused (sampler tpe, pruner asha, direction maximize)
    paused: 3 trials in a row failed with: unknown dataset 'mnist2d'; valid: ...
    trials: 3/50 finished; 0 queued, 0 running, 0 completed, 0 pruned, 3 failed
    budget: 3 of 50 trials used, 47 left; 812.4 of 7200 s training used, 6387.6 s left; ...
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
    if info.stop_reason:
        lines.append(f"stopped: {info.stop_reason}")
    if info.waiting_for:
        lines.append(f"waiting: {info.waiting_for} (start one: hpo worker --pool {info.pool})")
    by_state = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATES)
    lines.append(f"trials: {info.n_finished}/{info.n_trials} finished; {by_state}")
    if info.budget is not None:
        lines.append(budget_line(info.budget))
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


def budget_line(use: BudgetUse) -> str:
    """What each budget used and has left, on one line (limits that are off are left out,
    but the training time is always said)."""
    parts = [f"{use.trials_used} of {use.n_trials} trials used, {use.trials_left} left"]
    if use.max_seconds is None:
        parts.append(f"{use.seconds_used:g} s training used (no time budget)")
    else:
        parts.append(
            f"{use.seconds_used:g} of {use.max_seconds:g} s training used, "
            f"{use.seconds_left or 0.0:g} s left"
        )
    if use.max_trial_seconds is not None:
        parts.append(f"at most {use.max_trial_seconds:g} s a trial")
    if use.target is not None:
        parts.append(f"target {use.target:g}")
    return "budget: " + "; ".join(parts)


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
