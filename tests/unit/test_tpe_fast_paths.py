"""TPE's fast paths (issue 12) change its cost, not its suggestions: SciPy's vectorized normal
CDFs in place of Optuna's (`_optuna_log_ndtr.py`), the history's internal rows kept between
asks (`_tpe_repr.py`); the fitted estimators reused by the later draws of one ask change only
the draws after the first, by leaving out their siblings (checked at the end)."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from optuna.samplers._tpe import _erf, _truncnorm
from optuna.trial import TrialState, create_trial

from hpo.samplers import Observation, default_registry, taken_key
from hpo.samplers._optuna import _FixedSpaceTPE, distributions_for
from hpo.samplers._optuna_log_ndtr import vectorized_log_ndtr, vectorized_ndtr
from hpo.samplers._tpe_repr import InternalReprCache
from hpo.space import space_from_dict


def _optunas_log_ndtr(a: Any) -> Any:
    """Optuna's own definition (what the swap replaced)."""
    return np.frompyfunc(_truncnorm._log_ndtr_single, 1, 1)(a).astype(float)


def _optunas_ndtr(a: Any) -> Any:
    return 0.5 + 0.5 * _erf.erf(np.asarray(a, dtype=float) / 2**0.5)


def test_the_swap_is_installed_when_samplers_are_imported() -> None:
    assert _truncnorm._log_ndtr is vectorized_log_ndtr
    assert _truncnorm._ndtr is vectorized_ndtr


def test_vectorized_ndtr_agrees_with_optunas() -> None:
    x = np.linspace(-40, 40, 80_001)
    np.testing.assert_allclose(vectorized_ndtr(x), _optunas_ndtr(x), rtol=0, atol=1e-15)


def test_vectorized_log_ndtr_agrees_with_optunas_over_the_whole_range() -> None:
    x = np.concatenate(
        [np.linspace(-60, 40, 40_001), -np.logspace(-9, 3, 400), np.logspace(-9, 1.5, 400)]
    )
    ours, theirs = vectorized_log_ndtr(x), _optunas_log_ndtr(x)
    assert ours.dtype == np.float64 and ours.shape == x.shape
    assert np.all(np.isfinite(ours))
    # Optuna's is 6e-8 relative off just above 6 (log(1 - p) ~ -p); SciPy's is the exact one.
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-15)
    deep = np.array([-1e3, -200.0, -38.0])
    np.testing.assert_allclose(vectorized_log_ndtr(deep), _optunas_log_ndtr(deep), rtol=1e-12)


COND = space_from_dict(
    {
        "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99, "when": {"opt": ["sgd"]}},
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 16, "high": 512, "log": True},
    }
)


def _trials(n: int, seed: int) -> list[optuna.trial.FrozenTrial]:
    rng = np.random.default_rng(seed)
    dists = distributions_for(COND)
    out = []
    for i, p in enumerate(COND.sample(rng, n)):
        state = TrialState.RUNNING if i % 5 == 4 else TrialState.COMPLETE
        value = None if state == TrialState.RUNNING else float(np.log10(p["lr"]) ** 2)
        d = {k: v for k, v in dists.items() if k in p}
        out.append(create_trial(state=state, value=value, params=p, distributions=d))
    return out


def test_kept_rows_equal_optunas_internal_repr_and_follow_state_changes() -> None:
    trials = _trials(60, seed=1)
    tpe = _FixedSpaceTPE(distributions=distributions_for(COND), seed=0)
    cache = InternalReprCache()
    spaces = [
        {k: distributions_for(COND)[k] for k in ("opt", "lr", "width")},
        {k: distributions_for(COND)[k] for k in ("momentum", "lr")},  # only sgd trials have it
    ]
    for _ in range(2):  # the second pass is served from the kept rows
        for space in spaces:
            ours = cache.columns(trials, space, tpe._get_params)
            theirs = optuna.samplers.TPESampler._get_internal_repr(tpe, trials, space)
            assert ours.keys() == theirs.keys()
            for name in space:
                assert ours[name].dtype == theirs[name].dtype
                np.testing.assert_array_equal(ours[name], theirs[name])
    # A trial object whose state moved gets a new row; trimming keeps only live trials' rows.
    trials[4].state = TrialState.COMPLETE
    ours = cache.columns(trials, spaces[0], tpe._get_params)
    np.testing.assert_array_equal(
        ours["lr"], optuna.samplers.TPESampler._get_internal_repr(tpe, trials, spaces[0])["lr"]
    )
    cache.prune(trials[:10])
    assert len(cache) <= 2 * 10
    empty = cache.columns([], spaces[1], tpe._get_params)
    assert all(v.size == 0 for v in empty.values())


@pytest.mark.parametrize("space", ["flat", "conditional"])
def test_tpe_suggestions_are_the_same_without_the_fast_paths(
    space: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = (
        COND
        if space == "conditional"
        else space_from_dict(
            {
                "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
                "depth": {"type": "int", "low": 1, "high": 4},
                "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
            }
        )
    )
    rng = np.random.default_rng(3)
    history = [Observation(p, float(np.log10(p["lr"]) ** 2)) for p in s.sample(rng, 120)]
    pendings = [s.sample(rng, 8) for _ in range(4)]

    def suggestions() -> list[list[dict[str, Any]]]:
        sampler = default_registry().create("tpe", s, direction="minimize", seed=7)
        out = []
        for k, pending in enumerate(pendings):
            sampler.tell(history[: 100 + 5 * k], pending)
            out.append(sampler.ask(2))
        return out

    builds = []
    optunas_build = optuna.samplers.TPESampler._build_parzen_estimator

    def counted_build(self: Any, *args: Any, **kwargs: Any) -> Any:
        builds.append(1)
        return optunas_build(self, *args, **kwargs)

    monkeypatch.setattr(optuna.samplers.TPESampler, "_build_parzen_estimator", counted_build)
    fast = suggestions()
    if space == "flat":  # (a conditional space's groups each have their own pair)
        assert len(builds) == 2 * len(pendings)  # below + above once per ask, not per draw
    monkeypatch.setattr(_truncnorm, "_log_ndtr", _optunas_log_ndtr)
    monkeypatch.setattr(_truncnorm, "_ndtr", _optunas_ndtr)
    monkeypatch.setattr(_FixedSpaceTPE, "_build_parzen_estimator", optunas_build)
    monkeypatch.setattr(
        _FixedSpaceTPE, "_get_internal_repr", optuna.samplers.TPESampler._get_internal_repr
    )
    plain = suggestions()
    for (first, second), (plain_first, _), pending in zip(fast, plain, pendings, strict=True):
        # The first draw of an ask is Optuna's own ...
        assert first.keys() == plain_first.keys()
        for name in first:
            if isinstance(first[name], float):
                assert first[name] == pytest.approx(plain_first[name], rel=1e-9)
            else:
                assert first[name] == plain_first[name]
        # ... a later one comes from the same fit: valid, and distinct from its siblings and
        # the pending configurations.
        assert s.validate(second) == second
        keys = {taken_key(p) for p in [*pending, first]}
        assert taken_key(second) not in keys
