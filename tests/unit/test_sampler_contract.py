"""The sampler contract, run against every sampler the registry can load (LIPO included once
`hpo.samplers.lipo` exports `LipoSampler`): valid suggestions, ask before any tell, distinct
suggestions with pending trials, seeded determinism, failures tolerated, both directions."""

from __future__ import annotations

import gc
import math
import sys
import types
from typing import Any

import numpy as np
import pytest

from hpo.errors import UnknownSamplerError, ValidationError
from hpo.samplers import Observation, ObservationState, Sampler, default_registry, params_key
from hpo.samplers._base import BaseSampler, losses, taken_key
from hpo.space import Params, SearchSpace, space_from_dict

pytestmark = pytest.mark.unit

REGISTRY = default_registry()
NAMES = REGISTRY.names()

# Every kind of domain; continuous floats carry grid_points so the grid sampler can run too.
SPACE = space_from_dict(
    {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True, "grid_points": 4},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "x": {"type": "float", "low": -3.0, "high": 2.0, "grid_points": 3},
        "width": {"type": "int", "low": 16, "high": 512, "log": True, "grid_points": 4},
        "kernel": {"type": "int", "low": 3, "high": 9, "step": 2},
        "act": {"type": "categorical", "choices": ["relu", "tanh", True, 3, 2.5]},
    }
)

# Model-based samplers leave their random start-up phase early so that the model is tested.
FAST: dict[str, dict[str, Any]] = {"tpe": {"n_startup_trials": 4}, "gp": {"n_startup_trials": 4}}
# Optuna's GP costs about a second per suggestion on 2 cores: the tests marked "cheap" keep
# it in its start-up phase, which still runs the whole adapter.
CHEAP: dict[str, dict[str, Any]] = {**FAST, "gp": {"n_startup_trials": 1000}}
N_HISTORY = 7


def make(
    name: str,
    *,
    seed: int = 0,
    direction: str = "minimize",
    space: SearchSpace = SPACE,
    cheap: bool = False,
) -> Sampler:
    options = (CHEAP if cheap else FAST).get(name)
    return REGISTRY.create(name, space, direction=direction, seed=seed, options=options)  # type: ignore[arg-type]


def n_ask(name: str) -> int:
    return 2 if name == "gp" else 3


def objective(p: Params) -> float:
    return (
        float(np.log10(float(p["lr"])) + 3) ** 2 + (float(p["x"]) - 0.5) ** 2 + float(p["dropout"])
    )


def history(n: int = N_HISTORY, seed: int = 0, space: SearchSpace = SPACE) -> list[Observation]:
    rng = np.random.default_rng(seed)
    return [Observation(p, objective(p)) for p in space.sample(rng, n)]


def assert_valid(configs: list[Params], space: SearchSpace = SPACE) -> None:
    for p in configs:
        assert list(p) == list(space.names)
        assert space.validate(p) == p
        for name, value in p.items():
            kind = space[name].kind
            if kind == "int":
                assert type(value) is int, (name, value)
            elif kind == "float":
                assert type(value) is float, (name, value)
            else:
                choices = space[name].choices  # type: ignore[union-attr]
                assert any(type(c) is type(value) and c == value for c in choices)


def assert_distinct(configs: list[Params], pending: list[Params] = ()) -> None:  # type: ignore[assignment]
    keys = [params_key(p) for p in configs]
    assert len(set(keys)) == len(keys), configs
    assert not set(keys) & {params_key(p) for p in pending}


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


@pytest.mark.parametrize("name", NAMES)
def test_implements_the_protocol_and_rejects_bad_arguments(name: str) -> None:
    assert isinstance(make(name), Sampler)
    with pytest.raises(ValidationError):
        REGISTRY.create(name, SPACE, options={"no_such_option": 1})
    with pytest.raises(ValidationError):
        REGISTRY.create(name, SPACE, direction="sideways")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_ask_before_any_tell(name: str) -> None:
    configs = make(name).ask(3)
    assert len(configs) == 3
    assert_valid(configs)
    assert_distinct(configs)


@pytest.mark.parametrize("name", NAMES)
def test_suggestions_respect_bounds_log_steps_and_choices(name: str) -> None:
    sampler = make(name)
    sampler.tell(history(), [])
    configs = sampler.ask(n_ask(name))
    assert len(configs) == n_ask(name)
    assert_valid(configs)


@pytest.mark.parametrize("name", NAMES)
def test_distinct_with_pending_trials(name: str) -> None:
    done = history()
    pending = [p for p in SPACE.sample(np.random.default_rng(9), 3)]
    sampler = make(name)
    sampler.tell(done, pending)
    configs = sampler.ask(n_ask(name))
    assert_valid(configs)
    assert_distinct(configs, pending)


def kept_bytes(root: object) -> int:
    """Bytes reachable from `root` (objects and array buffers), not counting code, classes and
    modules: a sampler's kept state, whatever its implementation keeps it in."""
    skip: tuple[type, ...] = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    skip += (types.MethodType, types.CodeType)
    seen: set[int] = set()
    stack: list[object] = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj) + (obj.nbytes if isinstance(obj, np.ndarray) else 0)
        stack.extend(gc.get_referents(obj))
    return total


@pytest.mark.parametrize("name", NAMES)
def test_kept_state_grows_with_results_not_with_asks(name: str) -> None:
    # The service tells each study's cached sampler the same history with a new set of pending
    # configurations before every claim. What the sampler keeps must not grow with those asks
    # (issue 12: the Optuna adapter kept every pending trial of every ask, so a TPE ask with 32
    # workers took seconds). Pending sets alternate between 3 and 8 configurations.
    sampler = make(name, cheap=True)
    done = history(20)
    rng = np.random.default_rng(3)
    sizes = []
    for i in range(24):
        pending = SPACE.sample(rng, 8 if i % 2 else 3)
        sampler.tell(done, pending)
        [p] = sampler.ask(1)
        assert_distinct([p], pending)
        sizes.append(kept_bytes(sampler))
    # Same history, same pending count: the kept state after 22 more asks is the same size
    # (a few dozen bytes of counters may differ), where it grew by ~30 KB an ask before.
    assert abs(sizes[-1] - sizes[1]) < 1024, sizes
    assert abs(sizes[-2] - sizes[0]) < 1024, sizes
    # ... and it does grow with results.
    sampler.tell(done + history(40, seed=5), [])
    sampler.ask(1)
    if getattr(sampler, "keep_observations", False) or getattr(sampler, "keep_arrays", False):
        assert kept_bytes(sampler) > sizes[-1]


@pytest.mark.parametrize("name", NAMES)
def test_asks_before_any_result_are_distinct(name: str) -> None:
    # Parallel workers start together: each ask sees the previous suggestions as pending.
    pending: list[Params] = []
    for _ in range(4):
        sampler = make(name)
        sampler.tell([], pending)
        [p] = sampler.ask(1)
        assert_distinct([p], pending)
        pending.append(p)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_and_history_give_the_same_suggestions(name: str) -> None:
    done, pending = history(), SPACE.sample(np.random.default_rng(5), 1)
    first, second = make(name, seed=3), make(name, seed=3)
    first.tell(done, pending)
    second.tell(done, pending)
    assert first.ask(n_ask(name) - 1) == second.ask(n_ask(name) - 1)


@pytest.mark.parametrize("name", NAMES)
def test_a_sampler_told_more_history_matches_a_rebuilt_one(name: str) -> None:
    # hpo.optimize keeps one sampler and tells it the growing history; the service rebuilds.
    done = history()
    kept = make(name, seed=1, cheap=True)
    for _ in range(2):
        kept.tell(done, [])
        [p] = kept.ask(1)
        done = [*done, Observation(p, objective(p))]
    kept.tell(done, [])
    rebuilt = make(name, seed=1, cheap=True)
    rebuilt.tell(done, [])
    a, b = kept.ask(1)[0], rebuilt.ask(1)[0]
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], float):
            assert math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9), (k, a[k], b[k])  # type: ignore[arg-type]
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("name", NAMES)
def test_failed_diverged_and_pruned_observations_are_tolerated(name: str) -> None:
    rng = np.random.default_rng(4)
    configs = SPACE.sample(rng, 8)
    done = [
        Observation(configs[0], None, ObservationState.FAILED),
        Observation(configs[1], None, ObservationState.DIVERGED),
        Observation(configs[2], 1.0),
        Observation(configs[3], 3.0, ObservationState.PRUNED),
        Observation(configs[4], None, ObservationState.PRUNED),
        Observation(configs[5], 0.5),
        Observation(configs[6], None, "failed"),  # type: ignore[arg-type]
        Observation(configs[7], 2.0),
    ]
    sampler = make(name)
    sampler.tell(done, [])
    assert_valid(sampler.ask(n_ask(name) - 1))
    only_failures = [Observation(c, None, ObservationState.FAILED) for c in configs[:5]]
    sampler = make(name)
    sampler.tell(only_failures, [])
    assert_valid(sampler.ask(1))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_both_directions(name: str, direction: str) -> None:
    sampler = make(name, direction=direction, seed=2, cheap=True)
    sampler.tell(history(), [])
    assert_valid(sampler.ask(1))


@pytest.mark.parametrize("name", NAMES)
def test_small_discrete_space_never_repeats_a_pending_config(name: str) -> None:
    tiny = space_from_dict(
        {
            "a": {"type": "categorical", "choices": ["x", "y", "z"]},
            "b": {"type": "int", "low": 0, "high": 2},
        }
    )
    pending: list[Params] = [{"a": "x", "b": 0}, {"a": "y", "b": 1}]
    sampler = REGISTRY.create(name, tiny, seed=0, options=CHEAP.get(name))
    sampler.tell([Observation({"a": "z", "b": 2}, 1.0)], pending)
    configs = sampler.ask(4)
    assert_valid(configs, tiny)
    assert_distinct(configs, pending)


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


@pytest.mark.parametrize("name", NAMES)
def test_extend_equals_a_tell_of_the_whole_history(name: str) -> None:
    # The service's cache tells its samplers only what is new (`extend`): the suggestions
    # must be those of a sampler told the whole history, with the same pending trials.
    done = history(9)
    done[3] = Observation(done[3].params, None, ObservationState.FAILED)
    pending = SPACE.sample(np.random.default_rng(6), 2)
    kept = make(name, seed=4, cheap=True)
    assert isinstance(kept, BaseSampler)
    kept.tell(done[:2], pending[:1])
    kept.ask(1)
    for a, b in ((2, 2), (2, 5), (5, 9)):
        kept.extend(done[a:b], pending)
        whole = make(name, seed=4, cheap=True)
        whole.tell(done[:b], pending)
        assert kept.ask(1) == whole.ask(1), (name, b)
        assert kept.n_completed == b


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
