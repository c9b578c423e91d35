"""The JSON format of one study (`hpo export json`, `hpo import json`), versioned.

    {"format": "hpo-study", "schema_version": 2, "exported_at": "2026-12-02T17:00:00+00:00",
     "study": {"id": 3, "name": "mlp", "state": "completed", "direction": "maximize",
               "sampler": "tpe", "pruner": "median", "spec": {...the validated spec...},
               "n_trials": 20, "max_parallel": 4, "max_attempts": 3, "seed": 0,
               "paused_reason": null, "created_at": "..."},
     "trials": [{"id": 17, "number": 0, "state": "completed", "params": {"lr": 0.01},
                 "value": 0.91, "metrics": {...}, "reports": [[0, 0.5], [1, 0.8]],
                 "failure_class": null, "failure_message": null, "attempt": 1,
                 "worker_id": "w1", "device": "cpu", "created_at": "...",
                 "started_at": "...", "finished_at": "...", "imported": false,
                 "exactly_once": false}, ...]}

Versions: 1 had no `imported` and `exactly_once` on trials (read as false); 2 is this one.
A file of an older version is upgraded on reading; a newer one is refused with its version
named (it was written by a newer hpo). Ids are the exporting database's, for reference only:
an import makes a new study with new ids, keeping trial numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from hpo.errors import ValidationError
from hpo.interop.records import StudyRecord, TrialRecord
from hpo.spec import describe_validation_error, parse_study_spec
from hpo.states import Direction, FailureClass, StudyState, TrialState

FORMAT = "hpo-study"
SCHEMA_VERSION = 2


def _v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    trials = [{"imported": False, "exactly_once": False, **t} for t in document.get("trials", [])]
    return {**document, "trials": trials, "schema_version": 2}


# version -> the function that turns a document of that version into the next one.
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TrialPart(_Strict):
    id: int | None = None
    number: int = Field(ge=0)
    state: TrialState
    params: dict[str, Any]
    value: float | None = None
    metrics: dict[str, Any] | None = None
    reports: list[tuple[int, float]] = Field(default_factory=list)
    failure_class: FailureClass | None = None
    failure_message: str | None = None
    attempt: int = Field(default=1, ge=1)
    worker_id: str | None = None
    device: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    imported: bool
    exactly_once: bool


class _StudyPart(_Strict):
    id: int | None = None
    name: str
    state: StudyState
    direction: Direction
    sampler: str
    pruner: str
    spec: dict[str, Any]
    n_trials: int
    max_parallel: int
    max_attempts: int
    seed: int | None = None
    paused_reason: str | None = None
    created_at: datetime | None = None


class _Document(_Strict):
    format: str
    schema_version: int
    exported_at: datetime | None = None
    study: _StudyPart
    trials: list[_TrialPart]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def to_document(record: StudyRecord) -> dict[str, Any]:
    """The study as a JSON-able document of the current version."""
    study = {
        "id": record.id,
        "name": record.name,
        "state": str(record.state),
        "direction": str(record.direction),
        "sampler": record.sampler,
        "pruner": record.pruner,
        "spec": record.spec,
        "n_trials": record.n_trials,
        "max_parallel": record.max_parallel,
        "max_attempts": record.max_attempts,
        "seed": record.seed,
        "paused_reason": record.paused_reason,
        "created_at": _iso(record.created_at),
    }
    trials = [
        {
            "id": t.id,
            "number": t.number,
            "state": str(t.state),
            "params": t.params,
            "value": t.value,
            "metrics": t.metrics,
            "reports": [[step, value] for step, value in t.reports],
            "failure_class": None if t.failure_class is None else str(t.failure_class),
            "failure_message": t.failure_message,
            "attempt": t.attempt,
            "worker_id": t.worker_id,
            "device": t.device,
            "created_at": _iso(t.created_at),
            "started_at": _iso(t.started_at),
            "finished_at": _iso(t.finished_at),
            "imported": t.imported,
            "exactly_once": t.exactly_once,
        }
        for t in record.trials
    ]
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "study": study,
        "trials": trials,
    }


def from_document(document: object) -> StudyRecord:
    """A study record from a document of this or an older version; its spec is validated
    again, as if the study were created now. Raises ValidationError saying what is wrong."""
    if not isinstance(document, Mapping):
        raise ValidationError("a study file is a JSON object (written by `hpo export json`)")
    if document.get("format") != FORMAT:
        raise ValidationError(
            f"format is {document.get('format')!r}, not {FORMAT!r}: not a file written by "
            "`hpo export json`"
        )
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError(f"schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ValidationError(
            f"schema_version {version} is newer than this hpo reads (up to {SCHEMA_VERSION}): "
            "import it with the newer hpo that wrote it, or upgrade hpo"
        )
    upgraded = dict(document)
    while upgraded["schema_version"] < SCHEMA_VERSION:
        upgraded = _UPGRADES[upgraded["schema_version"]](upgraded)
    try:
        parsed = _Document.model_validate(upgraded)
    except pydantic.ValidationError as e:
        raise ValidationError(
            describe_validation_error(e).replace("invalid study spec", "invalid study file", 1)
        ) from e
    valid = parse_study_spec(parsed.study.spec)
    spec, space = valid.to_dict(), valid.search_space()
    for t in parsed.trials:  # what the samplers will be told must be of the study's space
        try:
            space.validate(t.params)
        except ValidationError as e:
            raise ValidationError(f"trial {t.number}: {e}") from e
    s = parsed.study
    return StudyRecord(
        name=s.name,
        direction=s.direction,
        sampler=s.sampler,
        pruner=s.pruner,
        spec=spec,
        n_trials=s.n_trials,
        max_parallel=s.max_parallel,
        max_attempts=s.max_attempts,
        state=s.state,
        seed=s.seed,
        paused_reason=s.paused_reason,
        created_at=s.created_at,
        id=s.id,
        trials=tuple(
            TrialRecord(
                number=t.number,
                state=t.state,
                params=t.params,
                value=t.value,
                metrics=t.metrics,
                reports=tuple((step, value) for step, value in t.reports),
                failure_class=t.failure_class,
                failure_message=t.failure_message,
                attempt=t.attempt,
                worker_id=t.worker_id,
                device=t.device,
                created_at=t.created_at,
                started_at=t.started_at,
                finished_at=t.finished_at,
                imported=t.imported,
                exactly_once=t.exactly_once,
                id=t.id,
            )
            for t in parsed.trials
        ),
    )
