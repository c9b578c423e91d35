"""Optuna's TPE, GP and CMA-ES behind our sampler protocol, through Optuna's public API only.

How a history becomes an Optuna study (in memory, one per sampler object):

- every parameter gets a fixed distribution (`FloatDistribution`, `IntDistribution`,
  `CategoricalDistribution`) from our `SearchSpace`;
- a completed observation (or a pruned one with a value) becomes a COMPLETE trial with its
  value. A failed/diverged one (or pruned without value) becomes a COMPLETE trial valued at the
  worst real value so far, so the sampler learns to avoid the region (Optuna itself would ignore
  FAIL trials and could propose the same crash again); before any real value exists it is added
  as FAIL;
- TPE and GP get trials via `create_trial` + `add_trials`. CMA-ES keeps its state on the trials
  it creates, so its history is *replayed*: `enqueue_trial(params)`, `ask`, `tell`;
- pending configurations become RUNNING trials: TPE runs with `constant_liar=True`, GP
  treats running trials as pending points, so parallel asks differ (CMA-ES reads only
  finished trials, so they are not added for it). Each suggestion is also
  checked against the pending and batch configurations and re-asked (then drawn at random)
  when it repeats one.

Each ask uses a fresh Optuna sampler seeded from (seed, history length, pending count), so a
sampler rebuilt from the same history repeats itself. Between asks the study is kept and only
extended when the new history is the old one plus new results (the `hpo.optimize` loop, and
the service's per-study sampler cache, which orders results by when they finished). The study
lives in a `ScratchStorage` (`_optuna_storage.py`): the history is its kept head, and what an
ask adds (the pending configurations, its own suggestions) is a scratch tail dropped before the
next ask, so the study holds the results plus this ask's pending trials and never more: asks
with 32 pending cost about what asks with none do (bench/sampler_pending.py). Anything else
rebuilds the study; CMA-ES, which learns from its own trials, extends only when the new results
are exactly the previous suggestions.

Conditional spaces (`when`) go through Optuna's own define-by-run interface: a history trial
carries only its active parameters (and their distributions), and an ask suggests the
parameters parents first, each only when its parent's suggested value makes it active. TPE
then models them with `group=True` (multivariate within each group of trials that share
their active parameters); GP and CMA-ES model the parameters every trial has and draw the
others independently, as Optuna does.

Importing this module swaps in a vectorized log normal CDF for TPE (`_optuna_log_ndtr.py`,
the one reach past the public API, with why) and sets Optuna's log level to WARNING
(process-wide) so that trials do not log one INFO line each; experimental-feature warnings are
silenced around our calls. TPE keeps its history's internal rows between asks (`_tpe_repr.py`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from copy import deepcopy
from typing import Any, ClassVar

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState, create_trial

from hpo.errors import ValidationError
from hpo.samplers._base import BaseSampler, Direction, Observation, taken_key
from hpo.samplers._optuna_log_ndtr import use_vectorized_log_ndtr
from hpo.samplers._optuna_storage import ScratchStorage
from hpo.samplers._tpe_repr import InternalReprCache
from hpo.samplers._window import DEFAULT_MAX_HISTORY, window_option
from hpo.space import Categorical, Float, Params, SearchSpace

optuna.logging.set_verbosity(optuna.logging.WARNING)
use_vectorized_log_ndtr()

# The trial system attribute Optuna's samplers read constraint values from (what their
# `constraints_func` results are stored as, after a trial: see Optuna's constraints_func docs).
_CONSTRAINTS_KEY = "constraints"

__all__ = ["CmaEsSampler", "GPSampler", "NSGAIISampler", "TPESampler", "distributions_for"]


def distributions_for(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Optuna distributions equivalent to our parameter domains."""
    out: dict[str, BaseDistribution] = {}
    for name, d in space.items():
        if isinstance(d, Categorical):
            out[name] = CategoricalDistribution(d.choices)
        elif isinstance(d, Float):
            out[name] = FloatDistribution(d.low, d.high, log=d.log, step=d.step)
        else:
            out[name] = IntDistribution(int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
    return out


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)  # deprecations of options we pass on
        yield


class _FixedSpaceTPE(optuna.samplers.TPESampler):
    """Optuna's TPE told the search space instead of inferring it from the trials.

    Multivariate TPE infers its joint search space as the intersection of the distributions
    of every finished trial. Optuna caches that walk on the sampler object, but we build a
    sampler per ask (for its seed), so each ask walked the whole history again: 27 of the
    ~30 ms of a TPE ask at 1000 trials. Every trial of our studies has the same distributions
    (one fixed `SearchSpace`), so the intersection is known: those distributions, or nothing
    while no trial is complete (or pruned), as Optuna would find. Suggestions are unchanged.
    """

    def __init__(
        self,
        *,
        distributions: Mapping[str, BaseDistribution],
        repr_cache: InternalReprCache | None = None,
        reuse_fit: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._repr_cache = repr_cache
        # With `reuse_fit` (the adapter's one-sampler-per-ask use only: a sampler kept across
        # asks would reuse a stale fit) the draws after the first reuse its estimators.
        self._reuse_fit = reuse_fit
        self._fitted: dict[tuple[bool, tuple[str, ...]], Any] = {}
        self._fixed_space = {name: d for name, d in sorted(distributions.items()) if not d.single()}
        # With `group` (conditional spaces) trials differ in their parameters: Optuna's own
        # inference is then the right one.
        self._joint = bool(kwargs.get("multivariate", False)) and not kwargs.get("group")

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if not self._joint:
            return super().infer_relative_search_space(study, trial)
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        return deepcopy(self._fixed_space) if finished else {}

    def _build_parzen_estimator(
        self,
        study: optuna.Study,
        search_space: dict[str, BaseDistribution],
        trials: list[FrozenTrial],
        handle_below: bool,
    ) -> Any:
        # Fit once, draw several: the adapter builds one sampler per `_ask`, and the draws of
        # one `_ask` (a claim batch, or re-asks of a repeat) differ only by their own earlier
        # siblings, RUNNING in the "above" group under the constant liar. Those are a handful
        # among the history and the workers' pending trials, so the later draws reuse the
        # first draw's two estimators (about 2/3 of an ask's CPU at 1 000 results) and sample
        # their own candidates from them. The first draw is exactly Optuna's.
        if not self._reuse_fit:
            return super()._build_parzen_estimator(study, search_space, trials, handle_below)
        key = (handle_below, tuple(search_space))
        fitted = self._fitted.get(key)
        if fitted is None:
            fitted = super()._build_parzen_estimator(study, search_space, trials, handle_below)
            self._fitted[key] = fitted
        return fitted

    def _get_internal_repr(
        self, trials: list[FrozenTrial], search_space: dict[str, BaseDistribution]
    ) -> dict[str, np.ndarray]:
        # The history's rows are kept between asks (`_tpe_repr.py`): same values as Optuna's.
        if self._repr_cache is None:
            return super()._get_internal_repr(trials, search_space)
        return self._repr_cache.columns(trials, search_space, self._get_params)


def _stored_constraints(trial: FrozenTrial) -> Sequence[float]:
    """Optuna's `constraints_func`: the violations we stored on the trial (<= 0: satisfied).
    Our trials are created with them (`create_trial(system_attrs=...)`), never computed here."""
    return tuple(trial.system_attrs.get(_CONSTRAINTS_KEY, ()))


class _OptunaAdapter(BaseSampler):
    """Shared adapter; subclasses say how to build the Optuna sampler for one ask.

    Several objectives (`directions`) make a multi-objective Optuna study; constraints
    (`n_constraints`) are stored on each trial as Optuna's constraint values and read back by
    the sampler's `constraints_func`, for the samplers that take one (`constrained`). For the
    others an infeasible trial is given the worst feasible value, like a failure."""

    constrained: ClassVar[bool] = False  # the Optuna sampler takes a constraints_func
    reuse_study: ClassVar[bool] = True  # False: rebuild the study for every ask
    replay: ClassVar[bool] = False  # True: add history by enqueue/ask/tell (stateful samplers)
    max_retries: ClassVar[int] = 8  # re-asks when a suggestion repeats a pending one

    def __init__(
        self,
        space: SearchSpace,
        *,
        direction: Direction = "minimize",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        directions: Sequence[Direction] | None = None,
        n_constraints: int = 0,
    ) -> None:
        super().__init__(
            space,
            direction=direction,
            seed=seed,
            options=options,
            directions=directions,
            n_constraints=n_constraints,
        )
        self._dists = distributions_for(space)
        self._conditional = space.is_conditional
        self._study: optuna.Study | None = None
        self._n_synced = 0  # completed observations in the study
        self._imputed: tuple[float, ...] | None = None  # the values failures were given
        self._had_failure = False
        self._storage = ScratchStorage()  # the study's; its scratch tail is this ask's trials
        # Past `max_history` results the study holds a window of them (`_window.py`); `_cut`
        # is where the window's recent part starts, so a moved cut means a rebuild.
        self._window = window_option(self.options.get("max_history", DEFAULT_MAX_HISTORY))
        self._cut = 0
        # The RUNNING trial of each pending configuration, kept while it stays pending: one new
        # configuration per ask is built, not all of them (`_pending_trials`).
        self._pending_cache: dict[int, FrozenTrial] = {}
        # TPE's internal rows of the kept trials (`_tpe_repr.py`); emptied with the study.
        self._repr_cache = InternalReprCache()
        self.rebuilds = 0  # how many times the study was rebuilt (for tests and tuning)
        # Build the Optuna sampler once now, so options Optuna refuses fail at creation (a
        # study spec is checked by building its sampler), not at every later ask.
        try:
            with _quiet():
                self._optuna_sampler(seed % 2**32)
        except (TypeError, ValueError, ImportError) as e:
            raise ValidationError(f"Optuna refused the options {dict(self.options)}: {e}") from e

    def _optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        raise NotImplementedError

    # -- history -> study ------------------------------------------------------------------
    @property
    def _uses_constraints(self) -> bool:
        return self.constrained and self.n_constraints > 0

    def _constraints_func(self) -> Any:
        return _stored_constraints if self._uses_constraints else None

    def _value_of(
        self, obs: Observation, imputed: tuple[float, ...] | None
    ) -> tuple[TrialState, list[float] | None]:
        values = obs.objective_values(len(self.directions))
        if values is not None and (obs.feasible or self._uses_constraints):
            return TrialState.COMPLETE, [float(v) for v in values]
        if imputed is None:
            return TrialState.FAIL, None
        return TrialState.COMPLETE, list(imputed)

    def _system_attrs(self, obs: Observation, index: int) -> dict[str, Any]:
        """Optuna system attributes of the `index`-th finished trial (in `self.completed`)."""
        if not self._uses_constraints:
            return {}
        # A failure has no metrics, hence no violations: it is imputed, not infeasible.
        violations = obs.violations or (0.0,) * self.n_constraints
        return {_CONSTRAINTS_KEY: list(violations)}

    def _worst(self) -> tuple[float, ...] | None:
        """Each objective's worst feasible value so far, in its own direction (None: none)."""
        if len(self.directions) > 1:
            y, mask = self.loss_vectors()
            if not mask.any():
                return None
            worst = np.max(y[mask], axis=0)
        else:
            y1, mask = self.losses()
            if not mask.any():
                return None
            worst = np.array([float(np.max(y1[mask]))])
        return tuple(
            float(-w if d == "maximize" else w) for w, d in zip(worst, self.directions, strict=True)
        )

    def _add(
        self,
        study: optuna.Study,
        observations: list[tuple[int, Observation]],
        imputed: tuple[float, ...] | None,
    ) -> None:
        """Add `observations` ((index in `self.completed`, observation) pairs) to the study."""
        if self.replay:
            for index, obs in observations:
                state, value = self._value_of(obs, imputed)
                study.enqueue_trial(dict(obs.params))
                trial = self._ask_trial(study)
                for key, attr in self._system_attrs(obs, index).items():
                    study._storage.set_trial_system_attr(trial._trial_id, key, attr)
                study.tell(trial, value, state=state)
            return
        trials = []
        for index, obs in observations:
            state, value = self._value_of(obs, imputed)
            trials.append(
                create_trial(
                    state=state,
                    values=value,
                    params=dict(obs.params),
                    distributions=self._dists_of(obs.params),
                    system_attrs=self._system_attrs(obs, index),
                )
            )
        self._storage.append_owned(trials)

    def _sync(self) -> optuna.Study:
        """Bring the cached study in line with `self.completed`, or rebuild it."""
        imputed = self._worst()
        # The base keeps these flags per observation as arrays: no Python pass over the history.
        has_failure = not bool((self._valued & self._feasible).all())
        # Failures are stored at the worst value so far (or as FAIL before any value): when
        # that value moves, the stored failures are stale and the study is rebuilt.
        same_imputation = not self._had_failure or imputed == self._imputed
        same_window = self._window.cut(len(self.completed)) == self._cut
        with _quiet():
            if self.replay:
                study = self._sync_replay(imputed, same_imputation and same_window)
            elif (
                self._study is not None
                and self._extended
                and same_imputation
                and same_window
                and self.reuse_study
            ):
                study = self._study
                # Forget what the previous ask added (its pending configurations and its own
                # suggestions): the study then holds the history alone, as if rebuilt.
                self._storage.drop_scratch()
                self._add(study, self._since(self._n_synced), imputed)
                self._storage.keep_all()
            else:
                study = self._rebuild(imputed)
            if not self.replay:
                # Pending configurations as RUNNING trials (constant liar / GP fantasies), in
                # the scratch tail: replaced at every ask, never accumulated.
                self._storage.append_owned(self._pending_trials())
        self._study, self._n_synced = study, len(self.completed)
        self._imputed, self._had_failure = imputed, has_failure
        return study

    def _rebuild(self, imputed: tuple[float, ...] | None) -> optuna.Study:
        self.rebuilds += 1
        self._storage = ScratchStorage()
        self._repr_cache = InternalReprCache()
        study = optuna.create_study(
            storage=self._storage,
            directions=list(self.directions),
            sampler=self._optuna_sampler(self.seed % 2**32),
        )
        self._add(study, self._windowed(), imputed)
        self._storage.keep_all()
        return study

    def _since(self, start: int) -> list[tuple[int, Observation]]:
        return list(enumerate(self.completed[start:], start))

    def _windowed(self) -> list[tuple[int, Observation]]:
        """The results a rebuilt study holds: all of them, or past `max_history` the window
        (`_window.py`: the best of the older part by the first objective, then everything
        from the cut on)."""
        self._cut = self._window.cut(len(self.completed))
        if self._cut == 0:
            return self._since(0)
        signed, valued = self._signed, self._valued & self._feasible
        return [(int(i), self.completed[i]) for i in self._window.rows(signed, valued)]

    def _pending_trials(self) -> list[FrozenTrial]:
        """A RUNNING trial per pending configuration, reused from the previous ask when the
        configuration was pending then too (a repeated configuration gets its own)."""
        cache: dict[int, FrozenTrial] = {}
        out = []
        for p in self.pending:
            key = taken_key(p)
            trial = self._pending_cache.get(key) if key not in cache else None
            if trial is None:
                trial = create_trial(
                    state=TrialState.RUNNING, params=dict(p), distributions=self._dists_of(p)
                )
            cache.setdefault(key, trial)
            out.append(trial)
        self._pending_cache = cache
        return out

    @property
    def kept_trials(self) -> int:
        """Trials in the adapter's Optuna study right now (the contract tests watch that it
        grows with results, not with asks)."""
        return 0 if self._study is None else self._storage.n_trials

    def _sync_replay(
        self, imputed: tuple[float, ...] | None, same_imputation: bool
    ) -> optuna.Study:
        """CMA-ES learns from its own trials, so results are replayed (enqueue, ask, tell) in
        order; extending replays only the new ones after dropping the previous ask's trials,
        which leaves the study a rebuild would make."""
        if self._study is None or not self._extended or not same_imputation:
            study = self._rebuild(imputed)
        else:
            study = self._study
            self._storage.drop_scratch()
            self._add(study, self._since(self._n_synced), imputed)
            self._storage.keep_all()
        # Pending configurations are not added: CMA-ES reads only finished trials, so they
        # would change nothing but the cost; `_ask_one` keeps suggestions distinct from them.
        return study

    # -- ask -----------------------------------------------------------------------------
    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        if self._asks_since_tell > 1 and self._study is not None:
            # A second ask without a tell: the trials the first one opened stay RUNNING, so
            # they count as pending for this one.
            study = self._study
        else:
            study = self._sync()
        with _quiet():
            study.sampler = self._optuna_sampler(self.derived_seed())
            taken = self.taken_keys(include_completed=False)
            out: list[Params] = []
            while len(out) < n:
                params = self._ask_one(study, taken, rng)
                taken.add(taken_key(params))
                out.append(params)
            self._repr_cache.trim(self._storage.trial_objects)
        return out

    def _dists_of(self, params: Mapping[str, Any]) -> dict[str, BaseDistribution]:
        """The distributions of the parameters a configuration has (all, without conditions)."""
        if not self._conditional:
            return self._dists
        return {n: d for n, d in self._dists.items() if n in params}

    def _ask_trial(self, study: optuna.Study) -> optuna.Trial:
        """An Optuna trial with its parameters suggested: all at once (define-and-run) in a
        flat space; parents first and each child only when active (define-by-run) in a
        conditional one, so Optuna's samplers see the tree."""
        if not self._conditional:
            return study.ask(self._dists)
        trial = study.ask()
        values: dict[str, Any] = {}
        for name in self.space.parent_order:
            if self.space.is_active(name, values):
                values[name] = _suggest(trial, name, self._dists[name])
        return trial

    def _canonical(self, raw: Mapping[str, Any]) -> Params:
        """Optuna's values in our types and bounds (a log round trip can land 1 ulp outside)."""
        out: Params = {}
        for name, d in self.space.items():
            if name not in raw:
                continue  # inactive in a conditional space
            v = raw[name]
            if isinstance(d, Categorical):
                out[name] = d.check(v)
            elif isinstance(d, Float):
                x = min(max(float(v), d.low), d.high)
                out[name] = d.from_unit(d.to_unit(x)) if d.step is not None else x
            else:
                out[name] = min(max(int(v), int(d.low)), int(d.high))
        return out

    def _ask_one(self, study: optuna.Study, taken: set[int], rng: np.random.Generator) -> Params:
        for _ in range(self.max_retries):
            trial = self._ask_trial(study)
            params = self._canonical(trial.params)
            if taken_key(params) not in taken:
                return params
        # A crowded discrete space: fall back to a distinct random configuration.
        return self.fill_distinct(1, lambda: self.space.sample(rng, 1)[0], set(taken))[0]


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """One define-by-run suggestion from a distribution of `distributions_for`."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
    assert isinstance(dist, IntDistribution)
    return trial.suggest_int(name, dist.low, dist.high, log=dist.log, step=dist.step)


class TPESampler(_OptunaAdapter):
    """Optuna's Tree-structured Parzen Estimator, multivariate, with the constant liar for
    pending trials. Ask cost grows about linearly with history (tens of ms at 1000).

    Options: `n_startup_trials` (10: random trials first), `n_ei_candidates` (24),
    `multivariate` (True: model parameter interactions), `constant_liar` (True), `group`
    (None: True in a conditional space when multivariate, Optuna's conditional TPE that
    models each set of co-occurring parameters jointly; False otherwise), `max_history`
    (1000: past it the model fits the best 50 older results and the recent ones, so the ask
    cost stops growing: `hpo/samplers/_window.py`; null: no window).

    Several objectives: Optuna's multi-objective TPE (the "below" group by non-dominated
    rank). Constraints: Optuna's `constraints_func` (infeasible trials rank below feasible).
    """

    multi_objective: ClassVar[bool] = True
    constrained: ClassVar[bool] = True

    options_defaults: ClassVar[Mapping[str, Any]] = {
        "n_startup_trials": 10,
        "n_ei_candidates": 24,
        "multivariate": True,
        "constant_liar": True,
        "max_history": DEFAULT_MAX_HISTORY,
        "group": None,
    }

    def _optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        o = self.options
        multivariate = bool(o["multivariate"])
        group = self._conditional and multivariate if o["group"] is None else bool(o["group"])
        return _FixedSpaceTPE(
            distributions=self._dists,
            repr_cache=self._repr_cache,
            reuse_fit=True,
            n_startup_trials=int(o["n_startup_trials"]),
            n_ei_candidates=int(o["n_ei_candidates"]),
            multivariate=multivariate,
            constant_liar=bool(o["constant_liar"]),
            group=group,
            constraints_func=self._constraints_func(),
            seed=seed,
        )


class GPSampler(_OptunaAdapter):
    """Optuna's Gaussian-process sampler (log EI, Matérn 5/2, pending points as fantasies).

    Cost: the GP is refitted and its acquisition optimized from scratch on every ask, cubic in
    the number of observations. Measured on this project's 2-core dev machine under load (6
    float dimensions, tell+ask on a fresh sampler): about 3.4 s at 100 observations and 7.7 s
    at 300, against 0.02 s / 0.19 s for TPE at 100 / 1000. That is too slow for a claim at
    scale, so past `max_observations` (default 200) this sampler asks multivariate TPE
    instead (same history, same seed rule); raise it to keep the GP longer.

    Options: `n_startup_trials` (10), `deterministic_objective` (False: assume noise),
    `max_observations` (200: fall back to TPE beyond; counts completed and pending),
    `max_history` (1000: the fallback TPE's window, as TPE's).

    Several objectives and constraints: Optuna's GP handles both (log EHVI; constrained log
    EI), and so does the TPE it falls back to.
    """

    multi_objective: ClassVar[bool] = True
    constrained: ClassVar[bool] = True

    options_defaults: ClassVar[Mapping[str, Any]] = {
        "n_startup_trials": 10,
        "deterministic_objective": False,
        "max_observations": 200,
        "max_history": DEFAULT_MAX_HISTORY,
    }

    def _optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        o = self.options
        if self.n_completed + len(self.pending) > int(o["max_observations"]):
            return _FixedSpaceTPE(
                distributions=self._dists,
                repr_cache=self._repr_cache,
                reuse_fit=True,
                n_startup_trials=10,
                multivariate=True,
                constant_liar=True,
                constraints_func=self._constraints_func(),
                seed=seed,
            )
        return optuna.samplers.GPSampler(
            n_startup_trials=int(o["n_startup_trials"]),
            deterministic_objective=bool(o["deterministic_objective"]),
            # In a conditional space the parameters not every trial has are drawn at random,
            # as documented above: not worth a warning per ask.
            warn_independent_sampling=not self._conditional,
            constraints_func=self._constraints_func(),
            seed=seed,
        )


class CmaEsSampler(_OptunaAdapter):
    """Optuna's CMA-ES (needs the `cmaes` package). Numeric parameters only: categorical ones
    are drawn at random. CMA-ES keeps its state on its own trials, so the history is replayed
    through the study (enqueue, ask, tell): a rebuild costs about a millisecond per
    observation; `hpo.optimize` extends one study instead.

    Options: `n_startup_trials` (1), `sigma0` (None: a sixth of the range), `popsize` (None:
    4 + 3 ln d), `use_separable_cma` (False), `with_margin` (False: True keeps integer
    parameters from collapsing), `max_history` (1000: the results replayed, as TPE's window;
    a moved window costs one replay per 250 results).
    """

    replay: ClassVar[bool] = True
    options_defaults: ClassVar[Mapping[str, Any]] = {
        "n_startup_trials": 1,
        "sigma0": None,
        "popsize": None,
        "use_separable_cma": False,
        "with_margin": False,
        "max_history": DEFAULT_MAX_HISTORY,
    }

    def _optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        o = self.options
        return optuna.samplers.CmaEsSampler(
            n_startup_trials=int(o["n_startup_trials"]),
            sigma0=None if o["sigma0"] is None else float(o["sigma0"]),
            popsize=None if o["popsize"] is None else int(o["popsize"]),
            use_separable_cma=bool(o["use_separable_cma"]),
            with_margin=bool(o["with_margin"]),
            warn_independent_sampling=False,
            seed=seed,
        )


class NSGAIISampler(_OptunaAdapter):
    """Optuna's NSGA-II: a genetic algorithm over generations of `population_size` trials,
    parents chosen by non-dominated rank and crowding distance (constrained domination when
    the study has constraints). For one objective or several.

    Generations are Optuna's trial attribute; a rebuilt study gives the k-th finished trial
    generation k // population_size (and pending trials the generations after), which is
    what Optuna assigns when trials finish in order. The first generation is random.

    Options: `population_size` (50), `mutation_prob` (None: 1 / number of parameters),
    `crossover_prob` (0.9), `swapping_prob` (0.5).
    """

    multi_objective: ClassVar[bool] = True
    constrained: ClassVar[bool] = True
    # NSGA-II caches each generation's parents on the study as it goes; an extended study's
    # cache was filled by earlier asks and does not always match a fresh one's, so the study
    # is rebuilt for every ask (create_trial per result, no replay: ~linear in the history).
    reuse_study: ClassVar[bool] = False
    options_defaults: ClassVar[Mapping[str, Any]] = {
        "population_size": 50,
        "mutation_prob": None,
        "crossover_prob": 0.9,
        "swapping_prob": 0.5,
    }
    _GENERATION = "NSGAIISampler:generation"

    def _optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        o = self.options
        return optuna.samplers.NSGAIISampler(
            population_size=int(o["population_size"]),
            mutation_prob=None if o["mutation_prob"] is None else float(o["mutation_prob"]),
            crossover_prob=float(o["crossover_prob"]),
            swapping_prob=float(o["swapping_prob"]),
            constraints_func=self._constraints_func(),
            seed=seed,
        )

    def _system_attrs(self, obs: Observation, index: int) -> dict[str, Any]:
        attrs = super()._system_attrs(obs, index)
        attrs[self._GENERATION] = index // int(self.options["population_size"])
        return attrs
