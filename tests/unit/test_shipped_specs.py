"""Every study spec shipped in search_spaces/ is valid, and every configuration its space can
produce is a valid training config for the trainers (a name the trainers do not know would
fail every trial of a study at run time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpo.comparison_spec import parse_comparison_spec
from hpo.service._common import training_config
from hpo.space import read_mapping
from hpo.spec import parse_study_spec
from trainers.config import build_run_config

pytestmark = pytest.mark.unit

SHIPPED = sorted((Path(__file__).parents[2] / "search_spaces").glob("*.yaml"))
# compare_*.yaml are comparison specs (samplers x seeds), checked by their own test below.
SPECS = [p for p in SHIPPED if not p.stem.startswith("compare_")]
COMPARISONS = [p for p in SHIPPED if p.stem.startswith("compare_")]


def test_there_are_specs() -> None:
    assert {p.stem for p in SPECS} >= {"mlp_mnist1d", "cnn_mnist1d"}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_is_valid_and_its_configs_build(path: Path) -> None:
    spec = parse_study_spec(read_mapping(path))
    space = spec.search_space()
    for params in space.sample(np.random.default_rng(0), 25):
        build_run_config(training_config(spec.to_dict(), params), device="cpu")


def test_there_is_a_comparison() -> None:
    assert {p.stem for p in COMPARISONS} >= {"compare_mlp_mnist1d"}


@pytest.mark.parametrize("path", COMPARISONS, ids=lambda p: p.stem)
def test_comparison_is_valid_and_its_configs_build(path: Path) -> None:
    comparison = parse_comparison_spec(read_mapping(path))  # every study spec it expands to
    cells = comparison.cells()
    assert len(cells) == len(comparison.samplers) * comparison.repeats
    spec = cells[0].spec
    for params in spec.search_space().sample(np.random.default_rng(0), 25):
        build_run_config(training_config(spec.to_dict(), params), device="cpu")


@pytest.mark.parametrize("stem", ["mlp_mnist1d", "cnn_mnist1d"])
def test_shipped_spaces_make_optimizer_and_schedule_parameters_conditional(stem: str) -> None:
    path = next(p for p in SPECS if p.stem == stem)
    spec = parse_study_spec(read_mapping(path))
    space = spec.search_space()
    assert space.conditions["momentum"].parent == "optimizer"
    assert space.conditions["gamma"].parent == "schedule"
    samples = space.sample(np.random.default_rng(1), 60)
    assert any("momentum" in p for p in samples) and any("momentum" not in p for p in samples)
    for params in samples:
        assert ("gamma" in params) == (params["schedule"] == "step")
        # The trainers take a trial without its inactive parameters (their defaults apply).
        build_run_config(training_config(spec.to_dict(), params), device="cpu")
