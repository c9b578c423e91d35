"""Every study spec shipped in search_spaces/ is valid, and every configuration its space can
produce is a valid training config for the trainers (a name the trainers do not know would
fail every trial of a study at run time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpo.service._common import training_config
from hpo.space import read_mapping
from hpo.spec import parse_study_spec
from trainers.config import build_run_config

pytestmark = pytest.mark.unit

SPECS = sorted((Path(__file__).parents[2] / "search_spaces").glob("*.yaml"))


def test_there_are_specs() -> None:
    assert {p.stem for p in SPECS} >= {"mlp_mnist1d", "cnn_mnist1d"}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_is_valid_and_its_configs_build(path: Path) -> None:
    spec = parse_study_spec(read_mapping(path))
    space = spec.search_space()
    for params in space.sample(np.random.default_rng(0), 25):
        build_run_config(training_config(spec.to_dict(), params), device="cpu")
