"""An Optuna study's finished trials brought into hpo (`hpo import optuna`).

Optuna's distributions map onto our space format (hpo/space/): `FloatDistribution` -> float,
`IntDistribution` -> int (each with `log` and `step`), `CategoricalDistribution` -> categorical.
What has no equivalent is refused with the parameter named: a parameter that only some trials
have (Optuna's conditional, define-by-run spaces), one whose distribution changes between
trials, a categorical choice of None, a domain of a single value, a study of several
objectives.

Trials: COMPLETE -> completed, PRUNED -> pruned (its value, if any), FAIL -> failed (the class
and message our export wrote, else `user` and Optuna's `fail_reason`); running and waiting
trials are skipped. Intermediate values become reports; a non-finite one is dropped, and a
completed trial with an infinite value is stored failed as diverged. User attributes written
by `hpo export optuna` (`hpo_metrics`) become the trial's metrics again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hpo.errors import HpoError, NotFoundError, SearchSpaceError, ValidationError
from hpo.interop.records import TrialRecord
from hpo.space import param_from_dict
from hpo.states import Direction, FailureClass, TrialState

FROM_OPTUNA = {
    OptunaState.COMPLETE: TrialState.COMPLETED,
    OptunaState.PRUNED: TrialState.PRUNED,
    OptunaState.FAIL: TrialState.FAILED,
}


def load_optuna_study(storage: str, study_name: str) -> optuna.Study:
    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError as e:  # Optuna's answer for a name the storage does not have
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise NotFoundError(
            f"no Optuna study named {study_name!r} in that storage; it has: "
            + (", ".join(repr(n) for n in names[:20]) or "no study")
        ) from e


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=tuple(FROM_OPTUNA))


def study_direction(study: optuna.Study) -> Direction:
    if len(study.directions) != 1:
        raise ValidationError(
            f"the Optuna study {study.study_name!r} has {len(study.directions)} objectives: "
            "hpo studies have one"
        )
    maximize = study.direction is optuna.study.StudyDirection.MAXIMIZE
    return Direction.MAXIMIZE if maximize else Direction.MINIMIZE


def space_of(trials: list[FrozenTrial]) -> dict[str, dict[str, Any]]:
    """Our space format for the parameters of `trials`, refusing what it cannot express."""
    seen: dict[str, tuple[BaseDistribution, int]] = {}
    counts: dict[str, int] = {}
    for trial in trials:
        for name, distribution in trial.distributions.items():
            counts[name] = counts.get(name, 0) + 1
            first = seen.setdefault(name, (distribution, trial.number))
            if first[0] != distribution:
                raise ValidationError(
                    f"parameter {name!r} has distribution {first[0]} in trial {first[1]} but "
                    f"{distribution} in trial {trial.number}: hpo's space gives a parameter "
                    "one domain"
                )
    for name, n in counts.items():
        if n < len(trials):
            raise ValidationError(
                f"parameter {name!r} is set in {n} of {len(trials)} trials (a conditional "
                "parameter): hpo's space gives every trial every parameter; import a study "
                "without it"
            )
    space: dict[str, dict[str, Any]] = {}
    for name, (distribution, _) in seen.items():
        domain = domain_of(name, distribution)
        try:
            param_from_dict(domain)
        except SearchSpaceError as e:
            raise SearchSpaceError(f"parameter {name!r}: {e}") from e
        space[name] = domain
    return space


def domain_of(name: str, distribution: BaseDistribution) -> dict[str, Any]:
    """One Optuna distribution in our format (`{type: float, low: ..., high: ...}`)."""
    if isinstance(distribution, FloatDistribution | IntDistribution):
        kind = "float" if isinstance(distribution, FloatDistribution) else "int"
        if distribution.low == distribution.high:
            raise ValidationError(
                f"parameter {name!r} has a single value ({distribution.low}): hpo searches "
                "ranges; put it in the spec's fixed: instead"
            )
        domain: dict[str, Any] = {"type": kind, "low": distribution.low, "high": distribution.high}
        if distribution.log:
            domain["log"] = True
        step = distribution.step
        if step is not None and not (kind == "int" and step == 1):
            domain["step"] = step
        return domain
    if isinstance(distribution, CategoricalDistribution):
        if any(choice is None for choice in distribution.choices):
            raise ValidationError(
                f"parameter {name!r} has the choice None: hpo's categorical choices are "
                "strings, numbers or booleans"
            )
        return {"type": "categorical", "choices": list(distribution.choices)}
    raise ValidationError(
        f"parameter {name!r} has a {type(distribution).__name__}, which hpo cannot express"
    )


def trial_record(trial: FrozenTrial) -> TrialRecord:
    """One finished Optuna trial as a record (numbered as in Optuna; re-numbered on import)."""
    state = FROM_OPTUNA[trial.state]
    attrs = trial.user_attrs
    value = trial.value
    failure_class, failure_message = _failure_of(trial)
    if value is not None and not math.isfinite(value):
        state, value = TrialState.FAILED, None
        failure_class, failure_message = FailureClass.DIVERGED, f"value was {trial.value}"
    if state is TrialState.FAILED:
        value = None
    reports = tuple(
        (int(step), float(v))
        for step, v in sorted(trial.intermediate_values.items())
        if math.isfinite(v) and int(step) >= 0
    )
    metrics = attrs.get("hpo_metrics")
    try:
        return TrialRecord(
            number=trial.number,
            state=state,
            params=dict(trial.params),
            value=value,
            metrics=dict(metrics) if isinstance(metrics, Mapping) else None,
            reports=reports,
            failure_class=failure_class if state is TrialState.FAILED else None,
            failure_message=failure_message if state is TrialState.FAILED else None,
            started_at=_utc(trial.datetime_start),
            finished_at=_utc(trial.datetime_complete),
            created_at=_utc(trial.datetime_start),
        )
    except HpoError as e:
        raise ValidationError(f"Optuna trial {trial.number}: {e}") from e


def _utc(moment: datetime | None) -> datetime | None:
    """Optuna's times are naive local times (`datetime.now()`); ours are aware, in UTC."""
    return None if moment is None else moment.astimezone(UTC)


def _failure_of(trial: FrozenTrial) -> tuple[FailureClass, str | None]:
    attrs = trial.user_attrs
    try:
        failure_class = FailureClass(attrs.get("hpo_failure_class", FailureClass.USER))
    except ValueError:
        failure_class = FailureClass.USER
    message = attrs.get("hpo_failure_message") or trial.system_attrs.get("fail_reason")
    return failure_class, None if message is None else str(message)
