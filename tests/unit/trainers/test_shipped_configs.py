"""Every shipped training config, and every corner of every shipped search space, builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from trainers import build_run_config

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3] / "search_spaces"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_training_config_builds(path: Path) -> None:
    cfg = build_run_config(yaml.safe_load(path.read_text()))
    assert cfg.train.epochs >= 1
    assert build_run_config(cfg.to_dict()) == cfg


def _corner(domain: dict[str, Any], high: bool) -> Any:
    if domain["type"] == "categorical":
        return domain["choices"][-1 if high else 0]
    return domain["high" if high else "low"]


@pytest.mark.parametrize("path", sorted(ROOT.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_search_space_corners_build(path: Path) -> None:
    spec = yaml.safe_load(path.read_text())
    for high in (False, True):
        params = {k: _corner(d, high) for k, d in spec["space"].items()}
        params.update(spec.get("fixed") or {})
        build_run_config({"task": spec["task"], "params": params, "seed": spec.get("seed", 0)})
