"""Conditional parameters (`when`): parsing and the refusals that name what to change, the
absent-when-inactive rule in validate/decode/encode, the grid of active combinations against
a brute-force filter of the flattened grid, `hpo.optimize` on a conditional space, and the
CLI's one-line refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo.errors import SearchSpaceError, ValidationError
from hpo.optimize import optimize
from hpo.samplers.testing import CONDITIONAL_SPACE, conditional_objective
from hpo.space import SearchSpace, space_from_dict

pytestmark = pytest.mark.unit

TREE: dict[str, Any] = {
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": "momentum"}},
    "schedule": {"type": "categorical", "choices": ["constant", "step"]},
    "gamma": {"type": "float", "low": 0.1, "high": 0.9, "when": {"schedule": ["step"]}},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
}


def test_a_single_value_needs_no_list_and_the_form_round_trips() -> None:
    space = space_from_dict(TREE)
    assert space.conditions["momentum"].values == ("momentum",)
    assert space.to_dict()["momentum"]["when"] == {"optimizer": ["momentum"]}
    assert SearchSpace.from_dict(space.to_dict()) == space
    assert space != space.flattened() and hash(space) != hash(space.flattened())
    assert not space.flattened().is_conditional


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"x": {"type": "int", "low": 0, "high": 3, "when": {"x": [1]}}},
            "names the parameter itself",
        ),
        (
            {
                "a": {"type": "int", "low": 0, "high": 3, "when": {"c": [1]}},
                "b": {"type": "int", "low": 0, "high": 3, "when": {"a": [1]}},
                "c": {"type": "int", "low": 0, "high": 3, "when": {"b": [2]}},
            },
            "the conditions form a cycle: a -> c -> b -> a",
        ),
        (
            {
                "d": {"type": "int", "low": 0, "high": 3},
                "x": {"type": "int", "low": 0, "high": 3, "when": {"d": [4]}},
            },
            "parameter 'x': when lists 4, which 'd' cannot take (4 is outside [0, 3])",
        ),
        (
            {
                "f": {"type": "float", "low": 0.0, "high": 1.0, "step": 0.5},
                "x": {"type": "int", "low": 0, "high": 3, "when": {"f": [0.5]}},
            },
            "when names 'f', a float; a parent must be a categorical or an int",
        ),
        (
            {
                "b": {"type": "categorical", "choices": [True, False]},
                "x": {"type": "int", "low": 0, "high": 3, "when": {"b": [1]}},
            },
            "when lists 1, which 'b' cannot take",  # True is not 1
        ),
        (
            {"x": {"type": "int", "low": 0, "high": 3, "when": {"a": [1], "b": [2]}}},
            "when must name one parent",
        ),
        ({"x": {"type": "int", "low": 0, "high": 3, "when": {"a": []}}}, "lists no value"),
    ],
)
def test_a_bad_when_is_refused_naming_it(space: dict[str, Any], message: str) -> None:
    with pytest.raises(SearchSpaceError) as caught:
        space_from_dict(space)
    assert message in str(caught.value)


def test_an_inactive_parameter_is_absent_and_validate_says_so() -> None:
    space = space_from_dict(TREE)
    adam = {"optimizer": "adam", "schedule": "constant", "lr": 0.01}
    assert space.validate(adam) == adam
    with pytest.raises(ValidationError, match=r"'momentum' is inactive here .* leave it out"):
        space.validate({**adam, "momentum": 0.9})
    with pytest.raises(ValidationError, match="missing 'gamma'"):
        space.validate({**adam, "schedule": "step"})
    assert space.prune({**adam, "momentum": 0.9, "gamma": 0.5}) == adam


def test_decode_drops_inactive_coordinates_and_encode_marks_them() -> None:
    space = CONDITIONAL_SPACE
    rng = np.random.default_rng(0)
    unit = rng.random((300, space.dim))
    configs = space.decode_many(unit)
    mask = space.active_mask(unit)
    for row, config, active in zip(unit, configs, mask, strict=True):
        assert [n for n, a in zip(space.names, active, strict=True) if a] == list(config)
        assert space.validate(config) == config
        encoded = space.encode(config)
        assert np.all(encoded[~active] == 0.5)  # the placeholder
        assert space.decode(np.where(active, encoded, row)) == config
    np.testing.assert_array_equal(
        space.encode_many(configs), np.stack([space.encode(c) for c in configs])
    )
    # Every parent kind switches its children both ways in 300 draws.
    for child in ("momentum", "nesterov", "dampening", "gamma", "width2", "warmup_epochs"):
        assert 0 < sum(child in c for c in configs) < len(configs), child


def test_the_grid_is_the_active_combinations_of_the_flattened_grid_once_each() -> None:
    space = CONDITIONAL_SPACE
    grid = list(space.iter_grid())
    keys = [tuple(sorted(p.items(), key=str)) for p in grid]
    assert len(set(keys)) == len(keys) == space.grid_size()
    brute = {tuple(sorted(space.prune(p).items(), key=str)) for p in space.flattened().iter_grid()}
    assert set(keys) == brute
    assert space.grid_size() < space.flattened().grid_size()


@pytest.mark.parametrize("sampler", ["random", "qmc", "tpe", "lipo"])
def test_optimize_takes_a_conditional_space(sampler: str) -> None:
    result = optimize(conditional_objective, CONDITIONAL_SPACE, sampler=sampler, n_trials=16)
    assert len(result.trials) == 16
    for trial in result.trials:
        assert CONDITIONAL_SPACE.validate(trial.params) == trial.params
    assert result.best_trial is not None


def test_optimize_runs_a_conditional_grid_to_its_end() -> None:
    space = space_from_dict(TREE | {"momentum": {**TREE["momentum"], "grid_points": 2},
                                    "gamma": {**TREE["gamma"], "grid": [0.1, 0.5]},
                                    "lr": {**TREE["lr"], "grid_points": 2}})  # fmt: skip
    # optimizer: sgd, adam (1 each) or momentum (2) -> 4; schedule: constant or 2 gammas -> 3.
    assert space.grid_size() == 4 * 3 * 2
    result = optimize(lambda p: float(p["lr"]), space, sampler="grid", n_trials=100)
    seen = {tuple(sorted(t.params.items())) for t in result.trials}
    assert len(result.trials) == len(seen) == 24


def test_the_cli_refuses_a_bad_when_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: bad\n"
        "task: {model: mlp, dataset: mnist1d, epochs: 2}\n"
        "space:\n"
        "  optimizer: {type: categorical, choices: [sgd, adam]}\n"
        "  momentum: {type: float, low: 0.5, high: 0.9, when: {optimiser: [sgd]}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "study", "create", str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "'momentum': when names 'optimiser', which is not a parameter" in lines[0]


def test_study_create_reports_the_size_of_a_conditional_grid() -> None:
    from hpo.commands.study import _grid_note
    from hpo.spec import parse_study_spec

    space = TREE | {
        "momentum": {**TREE["momentum"], "grid_points": 2},
        "gamma": {**TREE["gamma"], "grid": [0.1, 0.5]},
        "lr": {**TREE["lr"], "grid_points": 2},
    }
    base = {"name": "g", "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 2}}
    grid = parse_study_spec({**base, "space": space, "sampler": "grid"})
    # 3 optimizers x 2 momenta x 2 schedules x 2 gammas x 2 lrs without the conditions.
    assert _grid_note(grid) == "; a grid of 24 active combinations (48 without the conditions)"
    assert _grid_note(parse_study_spec({**base, "space": space, "sampler": "random"})) == ""
