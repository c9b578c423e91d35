"""What the service returns: plain frozen values, independent of SQLAlchemy sessions, so the
API, the CLI and tests can use them after the transaction has closed. They are also the API's
response models (FastAPI serializes dataclasses), so a field is declared once, here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hpo.service.failures import FailureCount
from hpo.storage import Study, Trial, TrialState
from hpo.storage.repositories.claim_path import TrialRow


@dataclass(frozen=True)
class TrialView:
    id: int
    study_id: int
    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    metrics: dict[str, Any] | None
    attempt: int
    worker_id: str | None
    device: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    failure_class: str | None
    failure_message: str | None
    last_step: int | None
    last_report_value: float | None
    duration_s: float | None

    @classmethod
    def of(cls, trial: Trial | TrialRow) -> TrialView:
        """From an ORM trial or a Core row of the trials table (same attribute names)."""
        return cls(
            id=trial.id,
            study_id=trial.study_id,
            number=trial.number,
            state=str(trial.state),
            params=dict(trial.params),
            value=trial.value,
            metrics=dict(trial.metrics) if trial.metrics else None,
            attempt=trial.attempt,
            worker_id=trial.worker_id,
            device=trial.device,
            created_at=trial.created_at,
            started_at=trial.started_at,
            finished_at=trial.finished_at,
            failure_class=str(trial.failure_class) if trial.failure_class else None,
            failure_message=trial.failure_message,
            last_step=trial.last_step,
            last_report_value=trial.last_report_value,
            duration_s=(
                (trial.finished_at - trial.started_at).total_seconds()
                if trial.started_at is not None and trial.finished_at is not None
                else None
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StudyView:
    id: int
    name: str
    state: str
    direction: str
    sampler: str
    pruner: str
    n_trials: int
    max_parallel: int
    max_attempts: int
    seed: int | None
    spec: dict[str, Any]
    comparison_id: int | None
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    best: TrialView | None = None
    paused_reason: str | None = None
    # The most common failures (class, message, count), most frequent first: filled in when
    # one study is read (GET /studies/{id}), None in lists.
    failures: list[FailureCount] | None = None

    @classmethod
    def of(
        cls, study: Study, counts: dict[TrialState, int] | None = None, best: Trial | None = None
    ) -> StudyView:
        return cls(
            id=study.id,
            name=study.name,
            state=str(study.state),
            direction=str(study.direction),
            sampler=study.sampler,
            pruner=study.pruner,
            n_trials=study.n_trials,
            max_parallel=study.max_parallel,
            max_attempts=study.max_attempts,
            seed=study.seed,
            spec=dict(study.spec),
            comparison_id=study.comparison_id,
            created_at=study.created_at,
            updated_at=study.updated_at,
            counts={str(state): n for state, n in (counts or {}).items()},
            best=TrialView.of(best) if best is not None else None,
            paused_reason=study.paused_reason,
        )

    @property
    def n_finished(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("completed", "pruned", "failed"))


@dataclass(frozen=True)
class CreatedStudy(StudyView):
    """The answer to a creation: the study, and its client token when one was asked for
    (`client_token: true`). The token is shown here only: the server keeps its hash."""

    client_token: str | None = None


@dataclass(frozen=True)
class Lease:
    """A trial handed to a worker (or an ask/tell client): everything it needs to train it
    and to report back. `config` is the full training config: {task, params, seed}."""

    trial_id: int
    study_id: int
    number: int
    attempt: int
    params: dict[str, Any]
    config: dict[str, Any]
    lease_token: str
    lease_expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BestConfig:
    """The best trial and the training config to retrain it (`hpo train --final`)."""

    study_id: int
    trial_id: int
    number: int
    value: float
    metric: str
    direction: str
    params: dict[str, Any]
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
