"""The Pareto front against a brute-force filter, hypervolume against hand-computed values,
the knee, and the --pick grammar."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hpo.errors import ValidationError
from hpo.pareto import (
    hypervolume,
    hypervolume_history,
    hypervolume_reference,
    knee_index,
    pareto_front_indices,
    pareto_mask,
    to_losses,
)
from hpo.pick import Objective, choose, parse_pick

pytestmark = pytest.mark.unit


def _brute_force_front(y: np.ndarray) -> set[int]:
    out = set()
    for i in range(len(y)):
        dominated = any(all(y[j] <= y[i]) and any(y[j] < y[i]) for j in range(len(y)) if j != i)
        if not dominated:
            out.add(i)
    return out


@pytest.mark.parametrize(("n", "k", "seed"), [(1, 2, 0), (30, 2, 1), (60, 3, 2), (40, 4, 3)])
def test_front_matches_brute_force_on_random_data(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Rounded so that ties and duplicates occur.
    y = np.round(rng.random((n, k)), 1)
    assert set(np.flatnonzero(pareto_mask(y))) == _brute_force_front(y)


def test_front_indices_are_sorted_by_first_column() -> None:
    y = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [3.0, 3.0]])
    assert pareto_front_indices(y) == [1, 2, 0]


def test_duplicates_stay_on_the_front() -> None:
    y = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(y).tolist() == [True, True, False]


def test_hypervolume_two_dimensions_by_hand() -> None:
    # Staircase of (1,3), (2,2), (3,1) against (4,4): 3*1 + 2*1 + 1*1 = 6.
    y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.5, 3.5]])
    assert hypervolume(y, [4.0, 4.0]) == pytest.approx(6.0)


def test_hypervolume_three_dimensions_by_hand() -> None:
    # Two boxes against (2,2,2): (0,0,1) gives 2*2*1=4, (1,1,0) gives 1*1*2=2, overlap 1*1*1.
    y = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    assert hypervolume(y, [2.0, 2.0, 2.0]) == pytest.approx(5.0)


def test_hypervolume_ignores_points_beyond_the_reference() -> None:
    assert hypervolume(np.array([[5.0, 0.0], [0.0, 5.0]]), [4.0, 4.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [1.0, 1.0]) == 0.0


def test_hypervolume_matches_inclusion_exclusion_on_random_data() -> None:
    rng = np.random.default_rng(7)
    y = rng.random((6, 3))
    ref = np.ones(3)
    # Inclusion-exclusion over every subset: the intersection of boxes [p, ref) is [max p, ref).
    total = 0.0
    for r in range(1, len(y) + 1):
        for subset in itertools.combinations(range(len(y)), r):
            corner = y[list(subset)].max(axis=0)
            total += (-1) ** (r + 1) * float(np.prod(ref - corner))
    assert hypervolume(y, ref) == pytest.approx(total)


def test_hypervolume_history_grows_and_skips_failures() -> None:
    y = np.array([[3.0, 3.0], [np.nan, np.nan], [1.0, 1.0], [2.0, 2.0]])
    assert hypervolume_history(y, [4.0, 4.0]) == pytest.approx([1.0, 1.0, 9.0, 9.0])


def test_reference_is_past_the_worst() -> None:
    ref = hypervolume_reference(np.array([[0.0, 10.0], [1.0, 20.0]]))
    assert ref.tolist() == pytest.approx([1.1, 21.0])


def test_to_losses_negates_maximized() -> None:
    assert to_losses([[0.9, 100]], ["maximize", "minimize"]).tolist() == [[-0.9, 100.0]]


def test_knee_is_the_compromise() -> None:
    y = np.array([[0.0, 1.0], [0.2, 0.2], [1.0, 0.0], [0.5, 0.9]])
    assert knee_index(y) == 1


OBJECTIVES = [Objective("val_accuracy", "maximize"), Objective("n_params", "minimize")]


def _candidates() -> list[tuple[list[float], dict[str, float]]]:
    rows = [(0.95, 900_000), (0.948, 200_000), (0.94, 50_000), (0.90, 10_000)]
    return [([a, n], {"val_accuracy": a, "n_params": n, "latency_ms": n / 1e5}) for a, n in rows]


def test_pick_smallest_within_tolerance_of_the_best() -> None:
    pick = parse_pick("smallest n_params within 0.005 of the best val_accuracy")
    assert choose(pick, _candidates(), OBJECTIVES) == 1
    wide = parse_pick("smallest  latency_ms WITHIN 2% of the best val_accuracy")
    assert choose(wide, _candidates(), OBJECTIVES) == 2


def test_pick_best_and_knee() -> None:
    assert choose(parse_pick("best n_params"), _candidates(), OBJECTIVES) == 3
    assert choose(parse_pick("knee"), _candidates(), OBJECTIVES) in (1, 2)


@pytest.mark.parametrize(
    "text",
    ["", "knees", "smallest n_params within of the best val_accuracy", "best", "largest x y"],
)
def test_unparseable_pick_names_the_grammar(text: str) -> None:
    with pytest.raises(ValidationError, match="knee \\| best OBJECTIVE"):
        parse_pick(text)


def test_pick_of_an_unknown_objective_names_the_objectives() -> None:
    with pytest.raises(ValidationError, match="val_accuracy, n_params"):
        choose(parse_pick("best latency_ms"), _candidates(), OBJECTIVES)
