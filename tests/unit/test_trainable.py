"""Study and comparison specs are checked by the trainers' own config validation, without the
API process importing torch."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from hpo.comparison_spec import parse_comparison_spec
from hpo.errors import UntrainableError, ValidationError
from hpo.spec import parse_study_spec
from hpo.trainable import is_user_file

pytestmark = pytest.mark.unit

SPEC: dict[str, Any] = {
    "name": "unit",
    "task": {"model": "cnn", "dataset": "mnist1d", "epochs": 1},
    "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
    "sampler": "random",
}


def test_the_api_and_the_spec_check_do_not_import_torch() -> None:
    code = (
        "import sys, api.app, hpo.spec, hpo.comparison_spec, hpo.trainable, trainers\n"
        "hpo.spec.parse_study_spec(" + repr(SPEC) + ")\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"space": {"depth": {"type": "float", "low": 1, "high": 4}}},
            "space.depth: value 2.14",  # a float space for an int field produces fractions
        ),
        ({"space": {"depth": {"type": "int", "low": 0, "high": 3}}}, "a cnn needs depth >= 1"),
        ({"space": {"pool": {"type": "categorical", "choices": ["max", "min"]}}}, "'min'"),
        (
            {"fixed": {"weight_decay": -1}},
            "fixed.weight_decay: weight_decay must be in [0.0, inf]",
        ),
        ({"fixed": {"milestones": "3"}}, "fixed.milestones: "),
        ({"task": {"model": "cnn", "dataset": "cifar10"}}, "task.dataset: unknown dataset"),
    ],
)
def test_each_mistake_names_its_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_study_spec({**SPEC, **change})
    text = str(caught.value)
    assert text.startswith("invalid study spec: ") and message in text, text
    assert "spec: " not in text.removeprefix("invalid study spec: ")[:5]


def test_grid_values_and_user_files() -> None:
    grid = {"dropout": {"type": "float", "low": 0.0, "high": 0.5, "grid": [0.0, 0.25]}}
    parse_study_spec({**SPEC, "space": grid, "sampler": "grid"})
    assert (
        is_user_file("csv:data/x.csv?label=y")
        and is_user_file("npz:x")
        and is_user_file("data/x.NPZ")
    )
    assert not is_user_file("mnist1d") and not is_user_file("mnist2d")


def test_a_comparison_is_checked_once_before_its_studies() -> None:
    body = {**SPEC, "samplers": ["random", "tpe"], "n_trials": 2, "fixed": {"norm": "group"}}
    body.pop("sampler")
    with pytest.raises(ValidationError, match=r"invalid comparison: fixed.norm: unknown norm"):
        parse_comparison_spec(body)
    parse_comparison_spec({**body, "fixed": {}, "check_config": False})


def test_the_error_is_the_422_kind() -> None:
    from api.errors import status_for

    assert status_for(UntrainableError("x")) == 422
    assert status_for(ValidationError("x")) == 400
