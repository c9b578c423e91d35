"""Best-so-far curves and ranking arithmetic (hpo.service.curves), by hand."""

from __future__ import annotations

import pytest

from hpo.service.curves import SeedHistory, by_time, by_trial, rank, spread

pytestmark = pytest.mark.unit


def test_best_so_far_follows_the_direction_and_skips_missing_values() -> None:
    up = SeedHistory.of([None, 0.3, 0.2, 0.5], [1, 2, 3, 4], maximize=True, done=False)
    assert up.best == (None, 0.3, 0.3, 0.5) and up.seconds == (1, 3, 6, 10)
    down = SeedHistory.of([3.0, None, 1.0, 2.0], [1, 1, 1, 1], maximize=False, done=True)
    assert down.best == (3.0, 3.0, 1.0, 1.0) and down.final_best == 1.0


def test_a_running_seed_has_no_data_past_its_last_finish_a_done_one_holds() -> None:
    running = SeedHistory.of([0.5, 0.7], [2, 2], maximize=True, done=False)
    done = SeedHistory.of([0.5, 0.7], [2, 2], maximize=True, done=True)
    assert [running.at_trial(k) for k in (1, 2, 3)] == [0.5, 0.7, None]
    assert [done.at_trial(k) for k in (1, 2, 3)] == [0.5, 0.7, 0.7]
    assert [running.at_seconds(t) for t in (1, 2, 3, 4, 5)] == [None, 0.5, 0.5, 0.7, None]
    assert done.at_seconds(100) == 0.7


def test_spread_interpolates_between_order_statistics() -> None:
    s = spread([3.0, None, 1.0, 2.0])
    assert (s.q25, s.median, s.q75) == (1.5, 2.0, 2.5)
    four = spread([1.0, 2.0, 3.0, 4.0])
    assert (four.q25, four.median, four.q75) == (1.75, 2.5, 3.25)
    assert spread([None, None]).median is None


def test_bands_take_the_seeds_that_have_data() -> None:
    a = SeedHistory.of([1.0, 3.0], [1, 1], maximize=True, done=True)
    b = SeedHistory.of([2.0], [5], maximize=True, done=False)
    band = by_trial([a, b], 3)
    assert band.x == [1, 2, 3] and band.median == [1.5, 3.0, 3.0]
    timed = by_time([a, b])
    assert timed.x == [1, 2, 5] and timed.median == [1.0, 3.0, 2.5]
    assert timed.q25 == [1.0, 3.0, 2.25] and timed.q75 == [1.0, 3.0, 2.75]


def test_rank_shares_ties_and_puts_missing_last() -> None:
    assert rank([0.9, None, 0.8, 0.9], maximize=True) == [1, 4, 3, 1]
    assert rank([0.9, None, 0.8, 0.9], maximize=False) == [2, 4, 1, 2]
    assert rank([None, None], maximize=True) == [1, 1]
