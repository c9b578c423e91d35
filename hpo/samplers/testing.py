"""The sampler contract as a pytest suite, for the built-in samplers and for yours.

Every sampler the registry can build must pass it: valid suggestions, ask before any tell,
distinct suggestions with pending trials, seeded determinism, failures tolerated, both
directions, kept state that grows with results and not with asks, (for an
`IncrementalSampler`) `extend` equal to a tell of the whole history, and conditional spaces
(`CONDITIONAL_SPACE`: inactive parameters never suggested, active ones always, distinct under
pending trials). To run it against a
sampler you registered, subclass `SamplerContract` in a test module (needs pytest)::

    from hpo.samplers import default_registry
    from hpo.samplers.testing import SamplerContract

    class TestMySampler(SamplerContract):
        registry = default_registry().with_sampler("mine", "my_package.sampling:MySampler")
        sampler_name = "mine"
"""

from __future__ import annotations

import gc
import math
import sys
import types
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pytest

from hpo.errors import ValidationError
from hpo.samplers._base import Direction, Observation, ObservationState, Sampler, params_key
from hpo.samplers._feed import IncrementalSampler
from hpo.samplers._registry import SamplerRegistry, default_registry
from hpo.space import Params, SearchSpace, space_from_dict

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
N_HISTORY = 7

# A tree of conditions over every parent kind (categorical, int, bool-like) and a nested one
# (dampening under nesterov under optimizer); every float has a grid so grid can run too.
CONDITIONAL_SPACE = space_from_dict(
    {
        "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
        "momentum": {
            "type": "float",
            "low": 0.5,
            "high": 0.99,
            "grid_points": 3,
            "when": {"optimizer": ["sgd", "momentum"]},
        },
        "nesterov": {
            "type": "categorical",
            "choices": [True, False],
            "when": {"optimizer": ["momentum"]},
        },
        "dampening": {
            "type": "float",
            "low": 0.0,
            "high": 0.5,
            "grid_points": 2,
            "when": {"nesterov": [False]},
        },
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True, "grid_points": 3},
        "schedule": {"type": "categorical", "choices": ["constant", "step"]},
        "gamma": {
            "type": "float",
            "low": 0.1,
            "high": 0.9,
            "grid_points": 2,
            "when": {"schedule": ["step"]},
        },
        "depth": {"type": "int", "low": 1, "high": 3},
        "width2": {
            "type": "int",
            "low": 16,
            "high": 64,
            "log": True,
            "grid_points": 2,
            "when": {"depth": [2, 3]},
        },
        "warmup": {"type": "categorical", "choices": [True, False]},
        "warmup_epochs": {"type": "int", "low": 1, "high": 2, "when": {"warmup": [True]}},
    }
)


def conditional_objective(p: Params) -> float:
    """Depends on conditional parameters where they are active (adam is a plateau)."""
    value = (float(np.log10(float(p["lr"]))) + 2.5) ** 2
    value += (float(p["momentum"]) - 0.9) ** 2 if "momentum" in p else 0.3
    value += float(p.get("gamma", 0.5)) * 0.1 + float(p.get("dampening", 0.0))
    return value


def conditional_history(n: int = N_HISTORY, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    return [Observation(p, conditional_objective(p)) for p in CONDITIONAL_SPACE.sample(rng, n)]


def assert_valid_conditional(configs: list[Params], space: SearchSpace = CONDITIONAL_SPACE) -> None:
    """Each configuration holds exactly its active parameters (an inactive one is absent, not
    null), in space order, each valid."""
    for p in configs:
        active = [n for n in space.names if space.is_active(n, p)]
        assert list(p) == active, (p, active)
        assert space.validate(p) == p
        assert all(v is not None for v in p.values()), p


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


def kept_bytes(root: object) -> int:
    """Bytes reachable from `root` (objects and array buffers), not counting code, classes and
    modules: a sampler's kept state, whatever its implementation keeps it in."""
    skip: tuple[type, ...] = (type, types.ModuleType, types.FunctionType)
    skip += (types.BuiltinFunctionType, types.MethodType, types.CodeType)
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


class SamplerContract:
    """The contract's cases for one sampler. Set `sampler_name` (and `registry` when it is
    not a built-in); `options` makes a model-based sampler leave its start-up phase early so
    that the model is tested, `cheap_options` (default: `options`) is used by the cases that
    ask many times; `n_ask` is how many configurations the larger asks request."""

    registry: ClassVar[SamplerRegistry] = default_registry()
    sampler_name: ClassVar[str]
    options: ClassVar[Mapping[str, Any] | None] = None
    cheap_options: ClassVar[Mapping[str, Any] | None] = None
    n_ask: ClassVar[int] = 3

    def make(
        self,
        *,
        seed: int = 0,
        direction: Direction = "minimize",
        space: SearchSpace = SPACE,
        cheap: bool = False,
    ) -> Sampler:
        options = self.options
        if cheap and self.cheap_options is not None:
            options = self.cheap_options
        return self.registry.create(
            self.sampler_name, space, direction=direction, seed=seed, options=options
        )

    def test_implements_the_protocol_and_rejects_bad_arguments(self) -> None:
        assert isinstance(self.make(), Sampler)
        with pytest.raises(ValidationError):
            self.registry.create(self.sampler_name, SPACE, options={"no_such_option": 1})
        with pytest.raises(ValidationError):
            self.registry.create(self.sampler_name, SPACE, direction="sideways")  # type: ignore[arg-type]

    def test_ask_before_any_tell(self) -> None:
        configs = self.make().ask(3)
        assert len(configs) == 3
        assert_valid(configs)
        assert_distinct(configs)

    def test_suggestions_respect_bounds_log_steps_and_choices(self) -> None:
        sampler = self.make()
        sampler.tell(history(), [])
        configs = sampler.ask(self.n_ask)
        assert len(configs) == self.n_ask
        assert_valid(configs)

    def test_distinct_with_pending_trials(self) -> None:
        done = history()
        pending = [p for p in SPACE.sample(np.random.default_rng(9), 3)]
        sampler = self.make()
        sampler.tell(done, pending)
        configs = sampler.ask(self.n_ask)
        assert_valid(configs)
        assert_distinct(configs, pending)

    def test_kept_state_grows_with_results_not_with_asks(self) -> None:
        # The service tells each study's cached sampler the same history with a new set of
        # pending configurations before every claim. What the sampler keeps must not grow
        # with those asks (issue 12: the Optuna adapter kept every pending trial of every
        # ask, so a TPE ask with 32 workers took seconds). Pending sets alternate between 3
        # and 8 configurations.
        sampler = self.make(cheap=True)
        done = history(20)
        rng = np.random.default_rng(3)
        sizes = []
        for i in range(24):
            pending = SPACE.sample(rng, 8 if i % 2 else 3)
            sampler.tell(done, pending)
            [p] = sampler.ask(1)
            assert_distinct([p], pending)
            sizes.append(kept_bytes(sampler))
        # Same history, same pending count: the kept state after 22 more asks is the same
        # size (a few dozen bytes of counters may differ), where it grew by ~30 KB an ask.
        assert abs(sizes[-1] - sizes[1]) < 1024, sizes
        assert abs(sizes[-2] - sizes[0]) < 1024, sizes
        # ... and it does grow with results.
        sampler.tell(done + history(40, seed=5), [])
        sampler.ask(1)
        keeps = getattr(sampler, "keep_observations", False) or getattr(
            sampler, "keep_arrays", False
        )
        if keeps:
            assert kept_bytes(sampler) > sizes[-1]

    def test_asks_before_any_result_are_distinct(self) -> None:
        # Parallel workers start together: each ask sees the previous suggestions as pending.
        pending: list[Params] = []
        for _ in range(4):
            sampler = self.make()
            sampler.tell([], pending)
            [p] = sampler.ask(1)
            assert_distinct([p], pending)
            pending.append(p)

    def test_same_seed_and_history_give_the_same_suggestions(self) -> None:
        done, pending = history(), SPACE.sample(np.random.default_rng(5), 1)
        first, second = self.make(seed=3), self.make(seed=3)
        first.tell(done, pending)
        second.tell(done, pending)
        assert first.ask(self.n_ask - 1) == second.ask(self.n_ask - 1)

    def test_a_sampler_told_more_history_matches_a_rebuilt_one(self) -> None:
        # hpo.optimize keeps one sampler and tells it the growing history; the service
        # rebuilds.
        done = history()
        kept = self.make(seed=1, cheap=True)
        for _ in range(2):
            kept.tell(done, [])
            [p] = kept.ask(1)
            done = [*done, Observation(p, objective(p))]
        kept.tell(done, [])
        rebuilt = self.make(seed=1, cheap=True)
        rebuilt.tell(done, [])
        a, b = kept.ask(1)[0], rebuilt.ask(1)[0]
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(a[k], float):
                assert math.isclose(a[k], b[k], rel_tol=1e-6, abs_tol=1e-9), (k, a[k], b[k])  # type: ignore[arg-type]
            else:
                assert a[k] == b[k], k

    def test_failed_diverged_and_pruned_observations_are_tolerated(self) -> None:
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
        sampler = self.make()
        sampler.tell(done, [])
        assert_valid(sampler.ask(self.n_ask - 1))
        only_failures = [Observation(c, None, ObservationState.FAILED) for c in configs[:5]]
        sampler = self.make()
        sampler.tell(only_failures, [])
        assert_valid(sampler.ask(1))

    @pytest.mark.parametrize("direction", ["minimize", "maximize"])
    def test_both_directions(self, direction: Direction) -> None:
        sampler = self.make(direction=direction, seed=2, cheap=True)
        sampler.tell(history(), [])
        assert_valid(sampler.ask(1))

    def test_small_discrete_space_never_repeats_a_pending_config(self) -> None:
        tiny = space_from_dict(
            {
                "a": {"type": "categorical", "choices": ["x", "y", "z"]},
                "b": {"type": "int", "low": 0, "high": 2},
            }
        )
        pending: list[Params] = [{"a": "x", "b": 0}, {"a": "y", "b": 1}]
        sampler = self.make(space=tiny, cheap=True)
        sampler.tell([Observation({"a": "z", "b": 2}, 1.0)], pending)
        configs = sampler.ask(4)
        assert_valid(configs, tiny)
        assert_distinct(configs, pending)

    def test_conditional_ask_before_any_tell(self) -> None:
        configs = self.make(space=CONDITIONAL_SPACE).ask(3)
        assert len(configs) == 3
        assert_valid_conditional(configs)
        assert_distinct(configs)

    def test_conditional_suggestions_hold_only_active_parameters(self) -> None:
        sampler = self.make(space=CONDITIONAL_SPACE)
        done = conditional_history(12)
        sampler.tell(done, [])
        configs = sampler.ask(self.n_ask)
        assert len(configs) == self.n_ask
        assert_valid_conditional(configs)
        # Told more results, including failures, the sampler still suggests valid trees.
        more = [*done, Observation(configs[0], None, ObservationState.FAILED)]
        more += [Observation(p, conditional_objective(p)) for p in configs[1:]]
        sampler = self.make(space=CONDITIONAL_SPACE, cheap=True)
        sampler.tell(more, [])
        assert_valid_conditional(sampler.ask(1))

    def test_conditional_distinct_with_pending_trials(self) -> None:
        done = conditional_history(10, seed=1)
        pending = CONDITIONAL_SPACE.sample(np.random.default_rng(9), 3)
        sampler = self.make(space=CONDITIONAL_SPACE, cheap=True)
        sampler.tell(done, pending)
        configs = sampler.ask(self.n_ask)
        assert_valid_conditional(configs)
        assert_distinct(configs, pending)

    def test_conditional_tiny_space_never_repeats_a_pending_config(self) -> None:
        # Four configurations in all: {a: x, b: 0..2} and {a: y}; two of them pending.
        tiny = space_from_dict(
            {
                "a": {"type": "categorical", "choices": ["x", "y"]},
                "b": {"type": "int", "low": 0, "high": 2, "when": {"a": ["x"]}},
            }
        )
        pending: list[Params] = [{"a": "y"}, {"a": "x", "b": 0}]
        sampler = self.make(space=tiny, cheap=True)
        sampler.tell([Observation({"a": "x", "b": 2}, 1.0)], pending)
        [config] = sampler.ask(1)
        assert_valid_conditional([config], tiny)
        assert_distinct([config], pending)

    def test_extend_equals_a_tell_of_the_whole_history(self) -> None:
        # The service's cache tells an incremental sampler only what is new (`extend`): the
        # suggestions must be those of a sampler told the whole history, with the same
        # pending trials.
        done = history(9)
        done[3] = Observation(done[3].params, None, ObservationState.FAILED)
        pending = SPACE.sample(np.random.default_rng(6), 2)
        kept = self.make(seed=4, cheap=True)
        if not isinstance(kept, IncrementalSampler):
            pytest.skip(f"{self.sampler_name} is told the whole history (no extend)")
        kept.tell(done[:2], pending[:1])
        kept.ask(1)
        for a, b in ((2, 2), (2, 5), (5, 9)):
            kept.extend(done[a:b], pending)
            whole = self.make(seed=4, cheap=True)
            whole.tell(done[:b], pending)
            assert kept.ask(1) == whole.ask(1), (self.sampler_name, b)
            assert kept.n_completed == b  # type: ignore[attr-defined]

    # -- several objectives and constraints ------------------------------------------------
    def make_multi(self, *, seed: int = 0, n_constraints: int = 1) -> Sampler:
        return self.registry.create(
            self.sampler_name,
            SPACE,
            seed=seed,
            options=self.cheap_options if self.cheap_options is not None else self.options,
            directions=("minimize", "maximize"),
            n_constraints=n_constraints,
        )

    def _supports_several_objectives(self) -> bool:
        return bool(getattr(self.registry.factory(self.sampler_name), "multi_objective", False))

    def test_several_objectives_are_optimized_or_refused_by_name(self) -> None:
        if self._supports_several_objectives():
            sampler = self.make_multi()
            sampler.tell(multi_history(), [])
            assert_valid(sampler.ask(1))
            return
        with pytest.raises(ValidationError, match=r"use one of .*random"):
            self.make_multi()

    def test_several_objectives_distinct_under_pending_and_seeded(self) -> None:
        if not self._supports_several_objectives():
            pytest.skip(f"{self.sampler_name} optimizes one objective")
        done = multi_history()
        pending = SPACE.sample(np.random.default_rng(8), 3)
        first, second = self.make_multi(seed=5), self.make_multi(seed=5)
        first.tell(done, pending)
        second.tell(done, pending)
        configs = first.ask(2)
        assert_valid(configs)
        assert_distinct(configs, pending)
        assert second.ask(2) == configs

    def test_several_objectives_extend_equals_a_tell_of_the_whole_history(self) -> None:
        if not self._supports_several_objectives():
            pytest.skip(f"{self.sampler_name} optimizes one objective")
        done = multi_history(9)
        kept = self.make_multi(seed=2)
        if not isinstance(kept, IncrementalSampler):
            pytest.skip(f"{self.sampler_name} is told the whole history (no extend)")
        kept.tell(done[:4], [])
        kept.ask(1)
        kept.extend(done[4:], [])
        whole = self.make_multi(seed=2)
        whole.tell(done, [])
        assert kept.ask(1) == whole.ask(1)

    def test_infeasible_observations_are_tolerated_by_single_objective_samplers(self) -> None:
        done = [
            Observation(o.params, o.value, o.state, violations=(1.0 if i % 3 == 0 else -1.0,))
            for i, o in enumerate(history(9))
        ]
        sampler = self.registry.create(
            self.sampler_name,
            SPACE,
            seed=1,
            options=self.cheap_options or self.options,
            n_constraints=1,
        )
        sampler.tell(done, [])
        assert_valid(sampler.ask(1))


def multi_objective(p: Params) -> tuple[float, float]:
    """Two conflicting objectives (the first minimized, the second maximized)."""
    x = float(p["x"])
    return objective(p), -((x - 2.0) ** 2)


def multi_history(n: int = N_HISTORY, seed: int = 0) -> list[Observation]:
    """Two-objective observations with one constraint (`x <= 1`), one failure among them."""
    rng = np.random.default_rng(seed)
    out = []
    for i, p in enumerate(SPACE.sample(rng, n)):
        if i == 2:
            out.append(Observation(p, None, ObservationState.FAILED))
            continue
        values = multi_objective(p)
        out.append(Observation(p, values[0], values=values, violations=(float(p["x"]) - 1.0,)))
    return out
