"""Pruner decisions on scripted report sequences, with hand-computed expectations."""

from __future__ import annotations

import math

import pytest

from hpo.errors import UnknownPrunerError, ValidationError
from hpo.pruners import (
    PRUNER_NAMES,
    ASHAPruner,
    MedianPruner,
    NopPruner,
    Pruner,
    make_pruner,
)

pytestmark = pytest.mark.unit

Event = tuple[int, int, float]  # (trial, step, value)


def replay(pruner: Pruner, events: list[Event], *, sign: float = 1.0) -> list[bool]:
    """Feed reports one at a time, as the service does: store, then decide on that report."""
    reports: dict[int, list[tuple[int, float]]] = {}
    decisions = []
    for trial, step, value in events:
        reports.setdefault(trial, []).append((step, sign * value))
        decisions.append(pruner.should_prune(reports, trial, step))
    return decisions


# ASHA, r=1, η=3, s=0: rungs at steps 1, 3, 9. A trial is promoted iff its rung value is
# within the best max(1, n // 3) of the n values at that rung (its own included).
ASHA_SCRIPT: list[tuple[Event, bool, str]] = [
    ((1, 1, 0.50), False, "rung 0: n=1, keep 1 -> alone, promoted"),
    ((2, 1, 0.70), True, "rung 0: [.5 .7] keep 1 -> .5 is better"),
    ((3, 1, 0.40), False, "rung 0: [.4 .5 .7] keep 1 -> best"),
    ((4, 1, 0.60), True, "rung 0: n=4 keep 1 -> .4 is better"),
    ((5, 1, 0.45), True, "rung 0: n=5 keep 1 -> .4 is better"),
    ((6, 1, 0.30), False, "rung 0: n=6 keep 2 -> [.3 .4] contains .3"),
    ((1, 2, 0.45), False, "between rungs: never prunes"),
    ((1, 3, 0.42), False, "rung 1: n=1 -> promoted"),
    ((3, 2, 0.35), False, "between rungs"),
    ((3, 3, 0.38), False, "rung 1: [.38 .42] keep 1 -> best"),
    ((6, 2, 0.29), False, "between rungs"),
    ((6, 3, 0.50), True, "rung 1: [.38 .42 .5] keep 1 -> .38 is better"),
    ((7, 1, 0.41), True, "rung 0: n=7 keep 2 -> [.3 .4]; .41 is out"),
    ((8, 4, 0.20), False, "first report at 4 crosses rungs 0 (n=8, keep 2) and 1 (n=4, keep 1)"),
    ((1, 9, 0.41), False, "rung 2: n=1 -> promoted"),
    ((3, 9, 0.39), False, "rung 2: [.39 .41] keep 1 -> best"),
    ((1, 10, 0.10), False, "past the last decided rung, before the next (27)"),
    ((9, 1, 0.30), False, "rung 0: n=9 keep 3 -> [.2 .3 .3]: a tie with the threshold stays"),
    ((10, 1, 0.31), True, "rung 0: n=10 keep 3 -> [.2 .3 .3]; .31 is out"),
]


def test_asha_promotions_match_the_algorithm_when_minimizing() -> None:
    pruner = ASHAPruner(direction="minimize", min_resource=1, reduction_factor=3)
    events = [event for event, _, _ in ASHA_SCRIPT]
    expected = [prune for _, prune, _ in ASHA_SCRIPT]
    decisions = replay(pruner, events)
    mismatches = [
        (i, why)
        for i, (got, want, (_, _, why)) in enumerate(
            zip(decisions, expected, ASHA_SCRIPT, strict=True)
        )
        if got != want
    ]
    assert not mismatches


def test_asha_is_symmetric_under_maximize() -> None:
    # Negated values with the opposite direction must give the same decisions.
    pruner = ASHAPruner(direction="maximize", min_resource=1, reduction_factor=3)
    events = [event for event, _, _ in ASHA_SCRIPT]
    assert replay(pruner, events, sign=-1.0) == [prune for _, prune, _ in ASHA_SCRIPT]


def test_asha_rungs_follow_min_resource_eta_and_early_stopping_rate() -> None:
    pruner = ASHAPruner(min_resource=2, reduction_factor=2, min_early_stopping_rate=1)
    assert [pruner.rung_step(k) for k in range(4)] == [4, 8, 16, 32]
    # Steps below the first rung (4) never prune, however bad.
    reports = {1: [(1, 0.1), (4, 0.1)], 2: [(1, 9.0), (3, 9.0)]}
    assert pruner.should_prune(reports, 2, 3) is False
    reports[2].append((4, 9.0))
    assert pruner.should_prune(reports, 2, 4) is True  # rung 0: n=2, keep 1 -> 0.1


def test_asha_prunes_non_finite_and_ignores_unknown_steps() -> None:
    pruner = ASHAPruner()
    assert pruner.should_prune({1: [(1, math.nan)]}, 1, 1) is True
    # Other trials' NaNs do not compete.
    assert pruner.should_prune({1: [(1, math.nan)], 2: [(1, 5.0)]}, 2, 1) is False
    # A step the trial never reported: nothing to decide.
    assert pruner.should_prune({1: [(1, 1.0)]}, 1, 2) is False
    assert pruner.should_prune({}, 1, 1) is False


def test_asha_reports_out_of_order_do_not_change_rung_values() -> None:
    pruner = ASHAPruner(min_resource=1, reduction_factor=2)
    # Trial 1's value at rung 0 (step 1) is 0.9, whatever order its reports are stored in.
    reports = {1: [(2, 0.1), (1, 0.9)], 2: [(1, 0.5)]}
    assert pruner.should_prune(reports, 2, 1) is False  # 0.5 beats 0.9 at rung 0


# Median: n_startup_trials=2 (unless the case says), n_warmup_steps=1. Values are exact in
# binary floating point, so ties are ties.
MEDIAN_HISTORY: dict[int, list[tuple[int, float]]] = {
    1: [(0, 1.0), (1, 0.8), (2, 0.5)],
    2: [(0, 1.2), (1, 0.9), (2, 0.75)],
    3: [(0, 0.9), (1, 0.5)],
}


@pytest.mark.parametrize(
    ("own", "step", "n_startup", "expected", "why"),
    [
        ([(0, 2.0)], 0, 2, False, "warm-up: step 0 < n_warmup_steps"),
        ([(0, 2.0), (1, 1.0)], 1, 2, True, "best 1.0 worse than median(.8 .9 .5) = .8"),
        ([(0, 2.0), (1, 0.8)], 1, 2, False, "a tie with the median is not worse"),
        ([(1, 0.66), (2, 0.66)], 2, 2, True, "best .66 worse than median(.5 .75) = .625"),
        ([(1, 0.625), (2, 0.66)], 2, 2, False, "best so far .625 ties the median"),
        ([(1, 0.4), (2, 0.9)], 2, 2, False, "best so far .4, though the latest .9 is worse"),
        ([(1, 0.66), (2, 0.66)], 2, 3, False, "only 2 others reached step 2 (< 3)"),
        ([(1, 1.0), (2, math.nan)], 2, 2, True, "a non-finite value is pruned"),
    ],
)
def test_median_pruner_scripted(
    own: list[tuple[int, float]], step: int, n_startup: int, expected: bool, why: str
) -> None:
    reports = {**MEDIAN_HISTORY, 9: own}
    for direction, sign in (("minimize", 1.0), ("maximize", -1.0)):
        pruner = MedianPruner(direction=direction, n_startup_trials=n_startup, n_warmup_steps=1)
        signed = {t: [(s, sign * v) for s, v in h] for t, h in reports.items()}
        assert pruner.should_prune(signed, 9, step) is expected, (direction, why)


def test_median_pruner_ignores_other_trials_nan_and_future_steps() -> None:
    pruner = MedianPruner(n_startup_trials=1)
    # Trial 1's NaN at step 1 is not a competitor; trial 2 at step 1 (0.5) is the median.
    reports = {1: [(1, math.nan)], 2: [(1, 0.5)], 3: [(1, 0.4), (5, 99.0)]}
    assert pruner.should_prune(reports, 3, 1) is False
    reports[3] = [(1, 0.6)]
    assert pruner.should_prune(reports, 3, 1) is True


def test_nop_pruner_never_prunes() -> None:
    assert NopPruner().should_prune({1: [(1, math.nan)]}, 1, 1) is False


def test_registry_builds_each_pruner_with_options() -> None:
    assert PRUNER_NAMES == ("none", "median", "asha")
    asha = make_pruner("asha", {"reduction_factor": 4, "min_resource": 2}, "maximize")
    assert asha == ASHAPruner(direction="maximize", min_resource=2, reduction_factor=4)
    assert make_pruner("median", None, "minimize") == MedianPruner()
    assert isinstance(make_pruner("none", {}, "minimize"), NopPruner)


def test_registry_rejects_unknown_names_and_options_with_what_is_allowed() -> None:
    with pytest.raises(UnknownPrunerError, match="none, median, asha"):
        make_pruner("hyperband", {}, "minimize")
    with pytest.raises(ValidationError, match="allowed: min_early_stopping_rate, min_resource"):
        make_pruner("asha", {"eta": 3}, "minimize")
    with pytest.raises(ValidationError, match="allowed: none"):
        make_pruner("none", {"x": 1}, "minimize")


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("asha", {"reduction_factor": 1}),
        ("asha", {"reduction_factor": 2.5}),
        ("asha", {"min_resource": 0}),
        ("asha", {"min_resource": True}),
        ("median", {"n_startup_trials": 0}),
        ("median", {"n_warmup_steps": -1}),
    ],
)
def test_registry_rejects_out_of_range_options(name: str, options: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="must be an integer >="):
        make_pruner(name, options, "minimize")


def test_direction_is_validated() -> None:
    with pytest.raises(ValidationError, match="'minimize' or 'maximize'"):
        make_pruner("median", {}, "up")
