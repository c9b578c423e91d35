"""An in-memory Optuna storage for one study whose tail of trials can be thrown away.

The adapter in `_optuna.py` keeps one Optuna study per sampler between asks and extends it with
new results. Each ask also adds the pending configurations (as RUNNING trials, for the constant
liar) and the trials its own `study.ask` opens. With Optuna's `InMemoryStorage` those can only be
closed, never removed, so the study grew by pending + 1 trials per ask: at 32 pending workers a
TPE ask went from 17 ms to seconds (issue 12). Here the history is the *kept* head of the trial
list, and everything an ask adds after it is *scratch*: `drop_scratch()` truncates the list back
to the head before the next ask, so the study holds exactly the results plus this ask's pending.

Written against `optuna.storages.BaseStorage`'s public interface (one study, trial id = trial
number); Optuna's samplers read trials through it the same way as through its own storages.
"""

from __future__ import annotations

import copy
from collections.abc import Container, Sequence
from datetime import datetime
from typing import Any

from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

__all__ = ["ScratchStorage"]

_STUDY_ID = 0
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class ScratchStorage(BaseStorage):
    """One study's trials: a kept head (results) and a scratch tail (this ask's trials)."""

    def __init__(self) -> None:
        self._name: str | None = None
        self._directions: list[StudyDirection] = []
        self._user_attrs: dict[str, Any] = {}
        self._system_attrs: dict[str, Any] = {}
        self._trials: list[FrozenTrial] = []
        self._kept = 0  # trials [0, _kept) are results; the rest are scratch
        self._dists: dict[str, BaseDistribution] = {}
        self._waiting = 0  # WAITING trials (enqueued): Optuna looks for them on every ask

    # -- the scratch boundary ------------------------------------------------------------
    def keep_all(self) -> None:
        """Every trial so far is history (call after adding results)."""
        self._kept = len(self._trials)

    def drop_scratch(self) -> None:
        """Forget every trial added since the last `keep_all`."""
        for trial in self._trials[self._kept :]:
            if trial.state == TrialState.WAITING:
                self._waiting -= 1
        del self._trials[self._kept :]

    def append_owned(self, trials: Sequence[FrozenTrial]) -> None:
        """Append trials the caller built for this storage alone (`create_trial` objects it
        keeps no other use for), without `add_trials`' deep copy of each: the adapter adds up
        to ~1000 results on a rebuild and every pending configuration on every ask, and the
        copies were ~40 % of a TPE ask at 150 results and 32 pending. Their distributions
        must be the study's (the adapter builds every trial from its one space)."""
        for trial in trials:
            if trial.state == TrialState.WAITING:
                raise ValueError("append_owned takes finished or running trials only")
            for name, dist in trial.distributions.items():
                if name not in self._dists:  # (a conditional space's trials hold a subset)
                    self._check_distribution(name, dist)
            number = len(self._trials)
            trial.number = number
            trial._trial_id = number
            self._trials.append(trial)

    @property
    def n_trials(self) -> int:
        return len(self._trials)

    @property
    def trial_objects(self) -> Sequence[FrozenTrial]:
        """The trials themselves, head then scratch (no copy: for identity checks)."""
        return self._trials

    # -- study ---------------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        if self._directions:
            raise RuntimeError("a ScratchStorage holds one study")
        self._directions = list(directions)
        self._name = study_name or "hpo-scratch"
        return _STUDY_ID

    def delete_study(self, study_id: int) -> None:
        self._check_study(study_id)
        self.__init__()  # type: ignore[misc]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._check_study(study_id)
        self._user_attrs[key] = value

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._check_study(study_id)
        self._system_attrs[key] = value

    def get_study_id_from_name(self, study_name: str) -> int:
        if not self._directions or study_name != self._name:
            raise KeyError(f"no study named {study_name!r}")
        return _STUDY_ID

    def get_study_name_from_id(self, study_id: int) -> str:
        self._check_study(study_id)
        assert self._name is not None
        return self._name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        self._check_study(study_id)
        return list(self._directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        self._check_study(study_id)
        return dict(self._user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        self._check_study(study_id)
        return dict(self._system_attrs)

    def get_all_studies(self) -> list[FrozenStudy]:
        if not self._directions:
            return []
        assert self._name is not None
        return [
            FrozenStudy(
                study_name=self._name,
                direction=None,
                directions=list(self._directions),
                user_attrs=dict(self._user_attrs),
                system_attrs=dict(self._system_attrs),
                study_id=_STUDY_ID,
            )
        ]

    # -- trials --------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self._check_study(study_id)
        if template_trial is None:
            trial = FrozenTrial(
                number=-1,
                state=TrialState.RUNNING,
                value=None,
                datetime_start=datetime.now(),
                datetime_complete=None,
                params={},
                distributions={},
                user_attrs={},
                system_attrs={},
                intermediate_values={},
                trial_id=-1,
            )
        else:
            trial = copy.deepcopy(template_trial)
            for name, dist in trial.distributions.items():
                self._check_distribution(name, dist)
        number = len(self._trials)
        trial.number = number
        trial._trial_id = number
        if trial.state == TrialState.WAITING:
            self._waiting += 1
        self._trials.append(trial)
        return number

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        trial = self._updatable(trial_id)
        self._check_distribution(param_name, distribution)
        trial.params = {
            **trial.params,
            param_name: distribution.to_external_repr(param_value_internal),
        }
        trial.distributions = {**trial.distributions, param_name: distribution}
        self._trials[trial_id] = trial

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        current = self._get(trial_id)
        if state == TrialState.RUNNING and current.state != TrialState.WAITING:
            return False  # someone else took this waiting trial (Optuna's contract)
        trial = self._updatable(trial_id)
        if trial.state == TrialState.WAITING:
            self._waiting -= 1
        trial.state = state
        if values is not None:
            trial.values = list(values)
        if state == TrialState.RUNNING:
            trial.datetime_start = datetime.now()
        if state in _FINISHED:
            trial.datetime_complete = datetime.now()
        self._trials[trial_id] = trial
        return True

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        trial = self._updatable(trial_id)
        trial.intermediate_values = {**trial.intermediate_values, step: intermediate_value}
        self._trials[trial_id] = trial

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        trial = self._updatable(trial_id)
        trial.user_attrs = {**trial.user_attrs, key: value}
        self._trials[trial_id] = trial

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        trial = self._updatable(trial_id)
        trial.system_attrs = {**trial.system_attrs, key: value}
        self._trials[trial_id] = trial

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._get(trial_id)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        self._check_study(study_id)
        self._get(trial_number)
        return trial_number

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._get(trial_id).number

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        self._check_study(study_id)
        if states == (TrialState.WAITING,) and self._waiting == 0:
            return []  # asked on every `study.ask`: no scan when nothing is enqueued
        trials = self._trials if states is None else [t for t in self._trials if t.state in states]
        # Without deepcopy the list is still a copy: set_* replace trials, never mutate them.
        return copy.deepcopy(trials) if deepcopy else list(trials)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        self._check_study(study_id)
        if state is None:
            return len(self._trials)
        states = (state,) if isinstance(state, TrialState) else state
        return sum(1 for t in self._trials if t.state in states)

    # -- checks --------------------------------------------------------------------------
    def _check_study(self, study_id: int) -> None:
        if study_id != _STUDY_ID or not self._directions:
            raise KeyError(f"no study with id {study_id}")

    def _get(self, trial_id: int) -> FrozenTrial:
        if not 0 <= trial_id < len(self._trials):
            raise KeyError(f"no trial with id {trial_id}")
        return self._trials[trial_id]

    def _updatable(self, trial_id: int) -> FrozenTrial:
        trial = self._get(trial_id)
        self.check_trial_is_updatable(trial_id, trial.state)
        return copy.copy(trial)

    def _check_distribution(self, name: str, dist: BaseDistribution) -> None:
        known = self._dists.get(name)
        if known is not None:
            check_distribution_compatibility(known, dist)
        self._dists[name] = dist
