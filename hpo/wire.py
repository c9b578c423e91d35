"""The values on the wire between the API and its clients: plain frozen dataclasses that the
service returns (hpo.service.views), the API serializes (FastAPI and pydantic read
dataclasses, so a field is declared once, here) and hpo.client parses back.

Nothing here imports storage, so a worker or the CLI can use these types without SQLAlchemy.
The service builds them with `.of(record)` from anything shaped like a stored row: the
`TrialRecord` and `StudyRecord` protocols say what is read (the ORM objects and the Core rows
of hpo.storage have those attributes); the client builds them with `.from_json(data)`.
`to_json()` gives back the JSON the API sent (the same serializer), which is what `--json`
prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, Self, cast

from pydantic import TypeAdapter

from hpo.states import Direction, FailureClass, StudyState, TrialState

# The most reports one request may carry (a batch to `POST /trials/{id}/reports`, or those that
# ride with a complete): a worker sends about one batch a second, so this is far more than one
# second of epochs; bounded so that one request's transaction stays small.
MAX_REPORTS_PER_REQUEST = 1000


class TrialRecord(Protocol):
    """What `TrialView.of` reads of a stored trial (an ORM Trial or a Core row)."""

    @property
    def id(self) -> int: ...
    @property
    def study_id(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def value(self) -> float | None: ...
    @property
    def metrics(self) -> Mapping[str, Any] | None: ...
    @property
    def attempt(self) -> int: ...
    @property
    def worker_id(self) -> str | None: ...
    @property
    def device(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def failure_class(self) -> str | None: ...
    @property
    def failure_message(self) -> str | None: ...
    @property
    def last_step(self) -> int | None: ...
    @property
    def last_report_value(self) -> float | None: ...
    @property
    def note(self) -> str | None: ...
    @property
    def tags(self) -> list[str] | None: ...


class StudyRecord(Protocol):
    """What `StudyView.of` reads of a stored study."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def sampler(self) -> str: ...
    @property
    def pruner(self) -> str: ...
    @property
    def n_trials(self) -> int: ...
    @property
    def max_parallel(self) -> int: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def imported_trials(self) -> int: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def spec(self) -> Mapping[str, Any]: ...
    @property
    def comparison_id(self) -> int | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def paused_reason(self) -> str | None: ...
    @property
    def stop_reason(self) -> str | None: ...
    @property
    def pool(self) -> str: ...


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:  # built on first use: a worker that never parses a page never pays
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


class _Wire:
    """JSON in and out, through the serializer the API answers with."""

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """Parse what the API sent (a decoded JSON object); unknown fields are ignored."""
        value: Self = _adapter(cls).validate_python(data)
        return value

    def to_json(self) -> Any:
        """The JSON object the API sends for this value (datetimes as ISO strings)."""
        return _adapter(type(self)).dump_python(self, mode="json")

    def to_dict(self) -> dict[str, Any]:
        return asdict(cast(Any, self))


@dataclass(frozen=True)
class TrialView(_Wire):
    id: int
    study_id: int
    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None
    metrics: dict[str, Any] | None
    attempt: int
    worker_id: str | None
    device: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    failure_class: FailureClass | None
    failure_message: str | None
    last_step: int | None
    last_report_value: float | None
    duration_s: float | None
    # A user's note and tags (PATCH /api/v1/trials/{id}).
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    # Several objectives: one value per objective (`value` is the first); null otherwise.
    values: list[float] | None = None
    # False when the trial broke one of the study's constraints; null without constraints.
    feasible: bool | None = None

    @classmethod
    def of(cls, trial: TrialRecord) -> TrialView:
        """From an ORM trial or a Core row of the trials table (same attribute names)."""
        return cls(
            id=trial.id,
            study_id=trial.study_id,
            number=trial.number,
            state=TrialState(trial.state),
            params=dict(trial.params),
            value=trial.value,
            metrics=dict(trial.metrics) if trial.metrics else None,
            attempt=trial.attempt,
            worker_id=trial.worker_id,
            device=trial.device,
            created_at=trial.created_at,
            started_at=trial.started_at,
            finished_at=trial.finished_at,
            failure_class=FailureClass(trial.failure_class) if trial.failure_class else None,
            failure_message=trial.failure_message,
            last_step=trial.last_step,
            last_report_value=trial.last_report_value,
            duration_s=(
                (trial.finished_at - trial.started_at).total_seconds()
                if trial.started_at is not None and trial.finished_at is not None
                else None
            ),
            note=trial.note,
            tags=list(trial.tags or ()),
            values=_floats(getattr(trial, "objective_values", None)),
            feasible=getattr(trial, "feasible", None),
        )


def _floats(values: Any) -> list[float] | None:
    return None if values is None else [float(v) for v in values]


@dataclass(frozen=True)
class FailureCount(_Wire):
    """How many failed trials share one failure class and message."""

    failure_class: str
    message: str
    count: int

    def describe(self) -> str:
        return f"{self.failure_class}: {self.message}" if self.message else self.failure_class


@dataclass(frozen=True)
class BudgetUse(_Wire):
    """What a study's budgets have used and have left (GET /studies/{id}): trials created
    of n_trials, seconds of summed training time (finished trials plus running ones) of
    max_seconds; null limits are off. `stop_reason` says which budget stopped the study."""

    n_trials: int
    trials_used: int
    trials_left: int
    max_seconds: float | None
    seconds_used: float
    seconds_left: float | None
    max_trial_seconds: float | None
    target: float | None
    stop_reason: str | None


@dataclass(frozen=True)
class StudyView(_Wire):
    id: int
    name: str
    state: StudyState
    direction: Direction
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
    pool: str = "default"  # the worker pool that trains it (spec resources.pool)
    # Why a running study gets no trials trained, when the service can tell ("no live worker
    # in pool a100"): filled in when one study is read, None otherwise.
    waiting_for: str | None = None
    # Trials imported (an Optuna import, a warm start): in `counts`, but not in the budget.
    imported_trials: int = 0
    # What the budgets used and have left: filled in when one study is read, None in lists.
    budget: BudgetUse | None = None
    # Which budget stopped the study (time, target), when one did.
    stop_reason: str | None = None

    @classmethod
    def of(
        cls,
        study: StudyRecord,
        counts: Mapping[Any, int] | None = None,
        best: TrialRecord | None = None,
    ) -> StudyView:
        """`counts` by trial state (enum members or their names)."""
        return cls(
            id=study.id,
            name=study.name,
            state=StudyState(study.state),
            direction=Direction(study.direction),
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
            pool=study.pool,
            imported_trials=study.imported_trials or 0,
            stop_reason=study.stop_reason,
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
class TrialPage(_Wire):
    """One page of a study's trials (`GET /studies/{id}/trials`)."""

    items: list[TrialView]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Lease(_Wire):
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
    # Whether a report's answer may be "prune" (the study's pruner reads reports): then each
    # report is sent and its answer awaited. False: a report is only stored, and the other
    # answers that stop a trial (409/404: lease lost, study cancelled, past max_trial_seconds)
    # come as well to a batch a second later, or to the heartbeat; so the worker batches its
    # reports (hpo/worker/reports.py). True when absent: an older server's leases, the old way.
    sync_reports: bool = True


@dataclass(frozen=True)
class WorkerView(_Wire):
    """A live worker (`GET /api/v1/workers`): one `hpo worker` process or GPU slot. `slots`
    is how many trials it trains at once (one per process: a GPU machine runs one process per
    slot), `current_trials` the ids of those it holds a live lease on."""

    id: str
    host: str
    pools: list[str]
    devices: list[str]
    slots: int
    current_trials: list[int]
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class BestConfig(_Wire):
    """The best trial and the training config to retrain it (`hpo train --final`)."""

    study_id: int
    trial_id: int
    number: int
    value: float
    metric: str
    direction: str  # a Direction's value (hpo/service/studies.py passes the text)
    params: dict[str, Any]
    config: dict[str, Any]
    # Several objectives: the chosen trial's values and how it was chosen (`--pick`).
    values: list[float] | None = None
    pick: str | None = None
