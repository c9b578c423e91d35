"""The sampler contract (`hpo.samplers.testing`), run against every sampler the registry can
load (LIPO included once `hpo.samplers.lipo` exports `LipoSampler`): valid suggestions, ask
before any tell, distinct suggestions with pending trials, seeded determinism, failures
tolerated, both directions. Then the registry's own cases, and `BaseSampler`'s."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hpo.errors import UnknownSamplerError
from hpo.samplers import (
    IncrementalSampler,
    Observation,
    ObservationState,
    default_registry,
    params_key,
)
from hpo.samplers._base import BaseSampler, losses, taken_key
from hpo.samplers.testing import SPACE, SamplerContract, history
from hpo.space import Params, space_from_dict

pytestmark = pytest.mark.unit

REGISTRY = default_registry()
NAMES = REGISTRY.names()

# Model-based samplers leave their random start-up phase early so that the model is tested.
FAST: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 4},
    "gp": {"n_startup_trials": 4},
    "nsga2": {"population_size": 4},
}
# Optuna's GP costs about a second per suggestion on 2 cores: the tests marked "cheap" keep
# it in its start-up phase, which still runs the whole adapter.
CHEAP: dict[str, dict[str, Any]] = {**FAST, "gp": {"n_startup_trials": 1000}}


def _contract_for(name: str) -> type[SamplerContract]:
    attributes = {
        "registry": REGISTRY,
        "sampler_name": name,
        "options": FAST.get(name),
        "cheap_options": CHEAP.get(name),
        "n_ask": 2 if name == "gp" else 3,
    }
    return type(f"TestContract_{name}", (SamplerContract,), attributes)


# One test class per registered sampler: TestContract_tpe::test_ask_before_any_tell, ...
for _name in NAMES:
    globals()[f"TestContract_{_name}"] = _contract_for(_name)


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_sampler_takes_new_results_incrementally(name: str) -> None:
    # The service's cache and hpo.optimize tell them only what is new (`SamplerFeed`).
    sampler = REGISTRY.create(name, SPACE, options=CHEAP.get(name))
    assert isinstance(sampler, BaseSampler)
    assert isinstance(sampler, IncrementalSampler)


def test_builtin_samplers_are_registered() -> None:
    assert {"grid", "random", "qmc", "tpe", "gp", "cmaes"} <= set(NAMES)
    assert "lipo" in REGISTRY.registered_names()


def test_unknown_sampler_lists_valid_names() -> None:
    with pytest.raises(
        UnknownSamplerError, match=r"unknown sampler 'nope': use one of grid, random"
    ):
        REGISTRY.create("nope", SPACE)


def test_unloadable_sampler_says_so() -> None:
    registry = REGISTRY.with_sampler("ghost", "hpo.samplers.does_not_exist:Ghost")
    assert "ghost" not in registry.names()
    with pytest.raises(UnknownSamplerError, match="cannot be loaded"):
        registry.create("ghost", SPACE)


class _KeepsAll(BaseSampler):
    """A sampler with BaseSampler's defaults: observations, arrays and keys all kept."""

    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        return self.space.sample(rng, n)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_base_state_kept_across_tells_equals_a_fresh_tell(direction: str) -> None:
    # BaseSampler extends its encoded rows and losses when the history grows, and rebuilds
    # them when it does not; either way they must equal what a fresh sampler computes.
    done = history(9)
    done[2] = Observation(done[2].params, None, ObservationState.FAILED)
    done[6] = Observation(done[6].params, 4.0, ObservationState.PRUNED)
    done[7] = Observation(done[7].params, None, ObservationState.PRUNED)
    changed = [*done[:4], Observation(done[4].params, -1.0), *done[5:]]
    kept = _KeepsAll(SPACE, direction=direction)  # type: ignore[arg-type]
    for told in (done[:1], done[:1], done[:3], done[:8], done, changed, changed[:5], []):
        kept.tell(told, [])
        fresh = _KeepsAll(SPACE, direction=direction)  # type: ignore[arg-type]
        fresh.tell(told, [])
        np.testing.assert_array_equal(kept.X, SPACE.encode_many([o.params for o in told]))
        np.testing.assert_array_equal(kept.X, fresh.X)
        for got, want in zip(kept.losses(), losses(told, direction), strict=True):  # type: ignore[arg-type]
            np.testing.assert_array_equal(got, want)
        # The completed keys too: built on first use, extended across tells after that.
        assert kept.taken_keys() == fresh.taken_keys() == {taken_key(o.params) for o in told}
        y, _ = kept.losses()
        y[:] = 0.0  # callers get a copy: the kept values do not change
        np.testing.assert_array_equal(kept.losses()[0], losses(told, direction)[0])  # type: ignore[arg-type]
    late = _KeepsAll(SPACE, direction=direction)  # type: ignore[arg-type]
    for told in (done[:3], done[:8], done):  # keys first asked for after a few extensions
        late.tell(told, [])
    assert late.taken_keys() == {taken_key(o.params) for o in done}


@pytest.mark.parametrize("name", ["random", "qmc", "grid", "lipo"])
def test_samplers_that_need_no_observations_keep_none(name: str) -> None:
    # Memory per observation: no Observation objects; random, qmc and grid keep no rows
    # either, and in a space with a continuous parameter random and qmc keep no keys.
    continuous = space_from_dict(
        {
            "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True, "grid_points": 3},
            "act": {"type": "categorical", "choices": ["relu", "tanh"]},
        }
    )
    sampler = REGISTRY.create(name, continuous, seed=0)
    assert isinstance(sampler, BaseSampler)
    rng = np.random.default_rng(0)
    done = [Observation(p, float(p["lr"])) for p in continuous.sample(rng, 20)]
    if name == "grid":
        done = [Observation({"lr": 1e-5, "act": "relu"}, 1.0)]
    sampler.tell(done, [])
    sampler.ask(1)
    assert sampler.completed == [] and sampler.n_completed == len(done)
    assert sampler.X.shape[0] == (len(done) if name == "lipo" else 0)
    assert sampler.taken_keys() == set()


def test_random_in_a_finite_space_keeps_hashed_keys_and_never_repeats() -> None:
    tiny = space_from_dict(
        {
            "a": {"type": "categorical", "choices": ["x", "y", "z"]},
            "b": {"type": "int", "low": 0, "high": 2},
        }
    )
    sampler = REGISTRY.create("random", tiny, seed=0)
    assert isinstance(sampler, BaseSampler)
    seen: list[Params] = []
    for _ in range(3):  # told in pieces, as the service's cache does
        new = sampler.ask(3)
        seen += new
        sampler.extend([Observation(p, 1.0) for p in new], [])
    assert len({params_key(p) for p in seen}) == 9
    assert sampler.completed == []
    assert sampler.taken_keys() == {taken_key(p) for p in seen}
