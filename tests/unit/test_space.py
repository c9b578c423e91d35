"""Search spaces: validation messages, loading, unit-cube round trips, grids, identity."""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from hpo.errors import SearchSpaceError, ValidationError
from hpo.space import (
    Categorical,
    Float,
    Int,
    SearchSpace,
    load_space,
    load_spec,
    space_from_dict,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

MIXED = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "depth": {"type": "int", "low": 1, "high": 4},
    "width": {"type": "int", "low": 16, "high": 512, "log": True},
    "kernel": {"type": "int", "low": 3, "high": 9, "step": 2},
    "act": {"type": "categorical", "choices": ["relu", "tanh", True, 3, 2.5]},
}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.5}, "low (1) must be < high (0.5)"),
        ({"type": "float", "low": 1.0, "high": 1.0}, "must be < high"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"type": "int", "low": -2, "high": 8, "log": True}, "log scale needs low > 0"),
        ({"type": "categorical", "choices": []}, "choices is empty"),
        ({"type": "categorical", "choices": ["a", "b", "a"]}, "listed twice"),
        ({"type": "categorical"}, "needs choices"),
        ({"type": "categorical", "choices": "abc"}, "must be a list"),
        ({"type": "categorical", "choices": [None]}, "not a string, a finite number"),
        ({"type": "bool"}, "unknown type 'bool'"),
        ({"low": 0, "high": 1}, "missing type"),
        ({"type": "float", "low": 0, "high": 1, "lo": 0}, "unknown key(s) 'lo'"),
        ({"type": "float", "low": 0, "high": 1, "step": 0.3}, "step 0.3 does not divide"),
        ({"type": "int", "low": 0, "high": 10, "step": 3}, "does not divide"),
        ({"type": "float", "low": 1e-3, "high": 1, "log": True, "step": 0.001}, "log and step"),
        ({"type": "int", "low": 1, "high": 9, "log": True, "step": 2}, "log and step"),
        ({"type": "int", "low": 0.5, "high": 3}, "must be an integer"),
        ({"type": "float", "low": "a", "high": 1}, "must be numbers"),
        ({"type": "float", "low": 0, "high": 1, "grid": [0.5, 2.0]}, "grid value 2.0"),
        ({"type": "float", "low": 0, "high": 1, "grid": []}, "grid is empty"),
        ({"type": "float", "low": 0, "high": 1, "grid": [0.1, 0.1]}, "duplicated"),
        ({"type": "float", "low": 0, "high": 1, "grid_points": 1}, "grid_points must be"),
        ({"type": "float", "low": 0, "high": 1, "grid": [0.1], "grid_points": 3}, "not both"),
        ({"type": "int", "low": 0, "high": 4, "grid": [1.5]}, "not an integer"),
        ({"type": "float"}, "needs low and high"),
        ("float", "expected a mapping"),
    ],
)
def test_invalid_parameter_names_what_to_change(spec: object, message: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        space_from_dict({"p": spec})
    assert message in str(info.value)
    assert "parameter 'p'" in str(info.value)


def test_empty_space_and_non_mapping_are_rejected() -> None:
    with pytest.raises(SearchSpaceError, match="empty"):
        space_from_dict({})
    with pytest.raises(SearchSpaceError, match="mapping"):
        space_from_dict([1, 2])  # type: ignore[arg-type]


def test_true_and_one_are_different_choices_but_one_and_one_point_zero_are_not() -> None:
    assert Categorical((True, 1)).choices == (True, 1)
    with pytest.raises(SearchSpaceError, match="listed twice"):
        Categorical((1, 1.0))


def test_to_dict_round_trip_and_equality() -> None:
    space = space_from_dict(MIXED)
    assert SearchSpace.from_dict(space.to_dict()) == space
    assert hash(SearchSpace.from_dict(space.to_dict())) == hash(space)
    assert space.names == tuple(MIXED)
    with pytest.raises(AttributeError):
        space.foo = 1


def test_grid_only_numeric_takes_its_bounds_from_the_grid() -> None:
    p = space_from_dict({"x": {"type": "float", "grid": [0.1, 0.5, 0.3]}})["x"]
    assert isinstance(p, Float)
    assert (p.low, p.high) == (0.1, 0.5)


def test_encode_decode_round_trip_on_random_points() -> None:
    space = space_from_dict(MIXED)
    rng = np.random.default_rng(0)
    for params in space.sample(rng, 200):
        u = space.encode(params)
        assert u.shape == (space.dim,)
        assert np.all((u >= 0) & (u <= 1))
        assert space.decode(u) == params
        assert space.contains(params)


def test_decode_rounds_clips_and_types_values() -> None:
    space = space_from_dict(MIXED)
    for u in (np.zeros(space.dim), np.ones(space.dim), np.full(space.dim, 0.37), -np.ones(6)):
        p = space.decode(u)
        assert space.validate(p) == p
        assert type(p["depth"]) is int and type(p["width"]) is int
        assert type(p["lr"]) is float
    low, high = space.decode(np.zeros(6)), space.decode(np.ones(6))
    assert (low["lr"], low["depth"], low["width"], low["kernel"]) == (1e-5, 1, 16, 3)
    assert math.isclose(cast(float, high["lr"]), 0.1) and (high["depth"], high["width"]) == (4, 512)
    assert high["dropout"] == 0.5 and space.decode(np.full(6, 0.62))["dropout"] == 0.3


def test_log_parameters_are_uniform_in_log_space() -> None:
    space = space_from_dict({"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}})
    assert math.isclose(cast(float, space.decode([0.5])["lr"]), 1e-2)
    lrs = [p["lr"] for p in space.sample(np.random.default_rng(1), 4000)]
    below = np.mean(np.array(lrs) < 1e-2)
    assert 0.45 < below < 0.55


def test_discrete_levels_get_equal_mass() -> None:
    space = space_from_dict({"d": {"type": "int", "low": 1, "high": 4}})
    counts = np.bincount([p["d"] for p in space.sample(np.random.default_rng(2), 4000)])
    assert counts[0] == 0 and all(900 < c < 1100 for c in counts[1:])


def test_snap_matches_decode_then_encode() -> None:
    space = space_from_dict(MIXED)
    U = np.random.default_rng(3).random((50, space.dim))
    assert np.allclose(space.snap(U), space.encode_many(space.decode_many(U)))
    assert np.allclose(space.snap(U[0]), space.encode(space.decode(U[0])))


def test_encode_many_checks_by_column_as_validate_does_one_by_one() -> None:
    """The column-at-a-time checks of `encode_many` (a long history's fast path) accept what
    `validate` accepts and encode it the same; anything else takes the one-by-one path, which
    raises naming the configuration's problem."""
    space = space_from_dict(MIXED)
    rng = np.random.default_rng(5)
    configs = space.decode_many(rng.random((40, space.dim)))
    configs += [{**configs[0], "depth": 3.0, "dropout": 0, "act": 3.0}]  # other spellings
    assert space._encode_checked_by_column(configs) is not None  # the fast path took them
    one_by_one = np.array([space.encode(c) for c in configs])
    assert np.array_equal(space.encode_many(configs), one_by_one)
    # numpy scalars are valid numbers too: the full path takes them
    assert np.allclose(space.encode_many([{**configs[0], "lr": np.float64(1e-3)}]),
                       space.encode({**configs[0], "lr": 1e-3}))  # fmt: skip
    bad: list[tuple[dict[str, object], str]] = [
        ({"lr": 0.5}, "'lr': 0.5 is outside"),
        ({"lr": math.nan}, "'lr': nan is outside"),
        ({"dropout": 0.25}, "'dropout': 0.25 is not on the step"),
        ({"depth": 2.5}, "'depth': expected an integer"),
        ({"depth": True}, "'depth': expected an integer"),
        ({"kernel": 4}, "'kernel': 4 is not on the step"),
        ({"act": "gelu"}, "'act': 'gelu' is not one of the choices"),
        ({"extra": 1}, "unknown 'extra'"),
    ]
    for change, message in bad:
        broken: list[dict[str, object]] = [dict(c) for c in configs[:5]]
        broken.append({**configs[5], **change})
        assert space._encode_checked_by_column(broken) is None, change
        with pytest.raises(ValidationError, match=message):
            space.encode_many(broken)
    with pytest.raises(ValidationError, match="missing 'width'"):
        space.encode_many([{k: v for k, v in configs[0].items() if k != "width"}])


def test_categorical_dims_and_indices() -> None:
    space = space_from_dict(MIXED)
    assert space.categorical_dims == (5,)
    assert space.discrete_dims == (1, 2, 3, 4)
    assert space.continuous_dims == (0,)
    assert space.n_levels == (None, 6, 4, 497, 4, 5)
    params = {"lr": 1e-3, "dropout": 0.2, "depth": 2, "width": 64, "kernel": 5, "act": True}
    U = space.encode_many([params, {**params, "act": 2.5}])
    assert space.categorical_indices(U).tolist() == [[2], [4]]


def test_validate_reports_every_problem() -> None:
    space = space_from_dict(MIXED)
    with pytest.raises(ValidationError) as info:
        space.validate({"lr": 2.0, "depth": 1.5, "act": "sigmoid", "extra": 1})
    text = str(info.value)
    for part in (
        "missing 'dropout'",
        "unknown 'extra'",
        "'lr': 2.0 is outside",
        "'depth'",
        "'act'",
    ):
        assert part in text
    assert not space.contains({"lr": 1e-3})
    with pytest.raises(ValidationError, match="not on the step"):
        space["dropout"].check(0.25)
    with pytest.raises(ValidationError, match="not on the step"):
        space["kernel"].check(4)
    with pytest.raises(ValidationError, match="expected a number"):
        space["lr"].check(True)


def test_params_hash_is_stable_and_normalizing() -> None:
    space = space_from_dict(
        {
            "x": {"type": "float", "low": 0, "high": 2},
            "c": {"type": "categorical", "choices": [1, True]},
        }
    )
    h = space.params_hash({"x": 1, "c": 1})
    assert h == space.params_hash({"c": 1, "x": 1.0})
    assert h != space.params_hash({"x": 1.0, "c": True})
    assert len(h) == 64 and h == space.params_hash({"x": 1.0, "c": 1})


def test_grid_enumeration() -> None:
    space = space_from_dict(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True, "grid_points": 3},
            "p": {"type": "float", "low": 0.0, "high": 0.5, "grid": [0.0, 0.25]},
            "d": {"type": "int", "low": 1, "high": 3},
            "a": {"type": "categorical", "choices": ["x", "y"]},
        }
    )
    assert space.grid_size() == 3 * 2 * 3 * 2
    axes = space.grid_axes()
    assert np.allclose(axes[0], (1e-4, 1e-3, 1e-2))
    assert axes[1:] == ((0.0, 0.25), (1, 2, 3), ("x", "y"))
    points = list(space.iter_grid())
    assert len(points) == 36 and len({tuple(p.values()) for p in points}) == 36
    assert all(space.contains(p) for p in points)


def test_grid_of_stepped_values_is_tidy() -> None:
    space = space_from_dict({"p": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}})
    assert space.grid_axes() == ((0.0, 0.1, 0.2, 0.3, 0.4, 0.5),)


def test_grid_needs_values_for_continuous_floats() -> None:
    space = space_from_dict({"lr": {"type": "float", "low": 1e-4, "high": 1e-2}})
    with pytest.raises(SearchSpaceError, match="'lr' is a continuous float with no grid"):
        space.grid_axes()


def test_grid_size_is_checked_against_the_cap_before_enumerating() -> None:
    huge = {f"x{i}": {"type": "int", "low": 0, "high": 10**9} for i in range(4)}
    space = space_from_dict(huge)
    with pytest.raises(SearchSpaceError, match=r"more than the cap of 100000"):
        space.grid_axes()  # would never finish if it enumerated first
    small = space_from_dict({"a": {"type": "int", "low": 0, "high": 9}})
    with pytest.raises(SearchSpaceError, match="cap of 5"):
        small.grid_axes(cap=5)


def test_space_size() -> None:
    assert space_from_dict({"a": {"type": "int", "low": 0, "high": 9}}).size == 10
    assert space_from_dict(MIXED).size == math.inf


@pytest.mark.parametrize("name", ["mlp_mnist1d", "cnn_mnist1d", "cnn_digits"])
def test_shipped_specs_load(name: str) -> None:
    path = ROOT / "search_spaces" / f"{name}.yaml"
    space = load_space(path)
    spec = load_spec(path)
    assert space == space_from_dict(spec["space"])
    assert {"lr", "batch_size", "depth", "width", "activation", "dropout"} <= set(space)
    assert spec["task"]["direction"] in ("minimize", "maximize")


def test_load_space_reports_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("space:\n  lr: {type: float, low: 1, high: 0}\n")
    with pytest.raises(SearchSpaceError, match=r"bad.yaml: parameter 'lr': low"):
        load_space(bad)
    good = tmp_path / "good.json"
    good.write_text('{"x": {"type": "int", "low": 0, "high": 3}}')
    assert load_space(good) == SearchSpace({"x": Int(0, 3)})
    with pytest.raises(ValidationError, match="cannot read"):
        load_space(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("a: [")
    with pytest.raises(ValidationError, match="not valid YAML"):
        load_space(tmp_path / "broken.yaml")
