"""`hpo study show`'s lines about the budgets: what is used and left, and why it stopped."""

from __future__ import annotations

from typing import Any

from hpo.commands.study_summary import budget_line, summary_lines
from hpo.wire import BudgetUse, StudyView
from tests.unit.test_client_wire import STUDY


def use(**changes: Any) -> BudgetUse:
    fields: dict[str, Any] = {
        "n_trials": 200, "trials_used": 12, "trials_left": 188, "max_seconds": 7200.0,
        "seconds_used": 812.4, "seconds_left": 6387.6, "max_trial_seconds": 600.0,
        "target": 0.98, "stop_reason": None,
    }  # fmt: skip
    fields.update(changes)
    return BudgetUse(**fields)


def test_the_budget_line_says_used_and_left_for_each_budget_set() -> None:
    assert budget_line(use()) == (
        "budget: 12 of 200 trials used, 188 left; 812.4 of 7200 s training used, 6387.6 s "
        "left; at most 600 s a trial; target 0.98"
    )
    bare = use(max_seconds=None, seconds_left=None, max_trial_seconds=None, target=None)
    assert budget_line(bare) == (
        "budget: 12 of 200 trials used, 188 left; 812.4 s training used (no time budget)"
    )


def test_show_says_which_budget_stopped_the_study() -> None:
    reason = "time budget of 7200 s of training used"
    study = StudyView.from_json(
        {**STUDY, "state": "completed", "stop_reason": reason, "budget": use().to_json()}
    )
    lines = summary_lines(study)
    assert f"stopped: {reason}" in lines
    assert any(line.startswith("budget: 12 of 200 trials used") for line in lines)
