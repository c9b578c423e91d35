"""An hpo study written as an Optuna study (`hpo export optuna`), into any Optuna storage URL
(`sqlite:///optuna.db`, `postgresql://...`), so Optuna's own tools (`optuna.load_study`,
`optuna.importance`, `optuna.visualization`, optuna-dashboard) read it.

Each finished trial becomes an Optuna trial of the matching state (completed -> COMPLETE,
pruned -> PRUNED, failed -> FAIL) with the study space's distributions (the sampler adapter's
mapping, `hpo.samplers.distributions_for`), its value, its reports as intermediate values,
and user attributes holding what Optuna has no field for: `hpo_study_id`, `hpo_trial_id`,
`hpo_trial_number`, `hpo_metrics`, `hpo_failure_class`, `hpo_failure_message`, `hpo_imported`.
Queued and running trials are left out: they have no outcome yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hpo.errors import AlreadyExistsError, ValidationError
from hpo.interop.records import StudyRecord, TrialRecord
from hpo.samplers._optuna import distributions_for
from hpo.states import TrialState
from hpo.storage._types import utcnow

TO_OPTUNA = {
    TrialState.COMPLETED: OptunaState.COMPLETE,
    TrialState.PRUNED: OptunaState.PRUNED,
    TrialState.FAILED: OptunaState.FAIL,
}

# The user attributes the export sets (and the import reads back).
ATTR_PREFIX = "hpo_"


def frozen_trial(
    record: TrialRecord, distributions: dict[str, BaseDistribution], study_id: int | None
) -> FrozenTrial:
    state = TO_OPTUNA[record.state]
    finished = record.finished_at or utcnow()
    started: datetime = record.started_at or record.created_at or finished
    attrs: dict[str, Any] = {
        "hpo_study_id": study_id,
        "hpo_trial_id": record.id,
        "hpo_trial_number": record.number,
        "hpo_metrics": record.metrics or {},
        "hpo_imported": record.imported,
    }
    if record.failure_class is not None:
        attrs["hpo_failure_class"] = str(record.failure_class)
    if record.failure_message is not None:
        attrs["hpo_failure_message"] = record.failure_message
    return FrozenTrial(
        number=record.number,
        state=state,
        # Optuna allows no value on a failed trial.
        value=None if state is OptunaState.FAIL else record.value,
        values=None,
        datetime_start=_local(started),
        datetime_complete=_local(finished),
        params=dict(record.params),
        distributions={name: distributions[name] for name in record.params},
        user_attrs=attrs,
        system_attrs={},
        intermediate_values=dict(record.reports),
        trial_id=record.number,
    )


def _local(moment: datetime) -> datetime:
    """Optuna keeps naive local times (it stamps trials with `datetime.now()`)."""
    return moment.astimezone().replace(tzinfo=None)


def export_to_optuna(record: StudyRecord, storage: str, name: str | None = None) -> optuna.Study:
    """Create the Optuna study `name` (default: the hpo study's name) in `storage` and add the
    study's finished trials; refuses a name that exists there already."""
    study_name = name or record.name
    try:
        distributions = distributions_for(record.space)
    except ValueError as e:  # a domain Optuna has no distribution for
        raise ValidationError(f"study {record.id}'s space cannot be written for Optuna: {e}") from e
    try:
        study = optuna.create_study(
            storage=storage, study_name=study_name, direction=str(record.direction)
        )
    except optuna.exceptions.DuplicatedStudyError as e:
        raise AlreadyExistsError(
            f"the Optuna storage already has a study named {study_name!r}: pass another "
            "--name, or delete it (optuna delete-study)"
        ) from e
    study.set_user_attr("hpo_study_id", record.id)
    study.set_user_attr("hpo_sampler", record.sampler)
    study.set_user_attr("hpo_spec", record.spec)
    finished = [t for t in record.trials if t.state in TO_OPTUNA]
    study.add_trials([frozen_trial(t, distributions, record.id) for t in finished])
    return study
