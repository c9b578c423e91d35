"""Request and response bodies of the REST API (v1). Fields may grow; paths are fixed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hpo.errors import ValidationError
from hpo.jsonlimits import BoundedJsonObject
from hpo.pools import DEFAULT_POOL, MAX_POOLS_PER_WORKER, check_pools
from hpo.service.annotations import MAX_TAGS, Note, Tag
from hpo.service.dispatch.claim_fields import LIMITS, MAX_DEVICES, check_claim_fields
from hpo.service.dispatch.leases import LEASE_TOKEN_PATTERN
from hpo.service.stopping import BUDGET_FIELDS
from hpo.service.views import Lease, TrialView
from hpo.spec import MAX_BUDGET_SECONDS, MAX_TRIAL_SECONDS
from hpo.states import FailureClass
from hpo.wire import MAX_REPORTS_PER_REQUEST

# Free-form metrics a worker attaches to a result: any JSON within the limits of
# hpo.jsonlimits (depth, size, finite numbers, no NUL).
Metrics = BoundedJsonObject


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StudyPatch(_Body):
    """Change a study: an action, a higher trial budget, or the time and quality budgets
    (a number sets one; null turns it off; a field left out is unchanged)."""

    action: Literal["pause", "resume", "cancel"] | None = None
    n_trials: int | None = Field(default=None, ge=1, le=1_000_000)
    max_seconds: float | None = Field(default=None, gt=0, le=MAX_BUDGET_SECONDS)
    max_trial_seconds: float | None = Field(default=None, gt=0, le=MAX_TRIAL_SECONDS)
    target: float | None = None

    def budget_changes(self) -> dict[str, float | None]:
        """The time and quality budgets this PATCH names (None: turn that one off)."""
        return {
            name: getattr(self, name) for name in BUDGET_FIELDS if name in self.model_fields_set
        }


class TrialPatch(_Body):
    """A user's annotations on a trial; a field left out is unchanged (null or "" clears
    the note, [] the tags)."""

    note: Note = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)


class TrialPage(BaseModel):
    items: list[TrialView]
    total: int
    offset: int
    limit: int


class EnqueueBody(_Body):
    params: BoundedJsonObject


TaskKind = Literal["builtin", "command"]


def _builtin_only() -> list[TaskKind]:
    return ["builtin"]


class _ClaimFields(_Body):
    """What a claim says of its worker, checked to the columns' limits (a 422 naming the
    field, before the claim joins another worker's batch: `hpo.service.dispatch.claim_fields`)."""

    worker_id: str = Field(min_length=1, max_length=LIMITS.worker_id)
    host: str = Field(default="", max_length=LIMITS.host)
    devices: list[str] = Field(default_factory=list, max_length=MAX_DEVICES)
    # What the worker runs: a worker without --allow-commands says ["builtin"] (also what a
    # claim that says nothing means), and is never handed a command trial.
    task_kinds: list[TaskKind] = Field(default_factory=_builtin_only, min_length=1, max_length=2)
    # The pools the worker serves (`hpo worker --pool`): only studies in these are served.
    pools: list[str] = Field(
        default_factory=lambda: [DEFAULT_POOL], max_length=MAX_POOLS_PER_WORKER
    )

    @model_validator(mode="after")
    def _storable(self) -> Self:
        try:
            check_claim_fields(self.worker_id, self.host, self.devices)
            self.pools = list(check_pools(self.pools))
        except ValidationError as e:
            raise ValueError(str(e)) from e
        return self


class ClaimBody(_ClaimFields):
    # Long-poll (api/routes/trials.py): hold a claim with no work up to this long; clamped to
    # HPO_CLAIM_MAX_WAIT_SECONDS, and never above an hour whatever the server allows.
    wait_seconds: float = Field(default=0.0, ge=0, le=3600)


class AskBody(_Body):
    # User code may not heartbeat; a longer lease than a worker's keeps its trial alive.
    lease_seconds: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)


class TokenBody(_Body):
    # The token as the claim made it: anything else (non-ASCII, over-long) is no lease token.
    lease_token: str = Field(min_length=1, max_length=128, pattern=LEASE_TOKEN_PATTERN)


# The highest step a report may carry (an epoch, a batch count: far below this).
MAX_STEP = 10_000_000


class ReportItem(_Body):
    """One intermediate value: the study's metric at `step` (finite: a NaN loss is a
    diverged trial, to be failed as such)."""

    step: int = Field(ge=0, le=MAX_STEP)
    value: float


# A list of reports in one request: bounded (a 422 names the limit), in the order they were
# made (a step given twice keeps the later value, as a repeated single report does).
ReportList = Annotated[list[ReportItem], Field(max_length=MAX_REPORTS_PER_REQUEST)]


class ReportBody(TokenBody):
    """One report (`step`, `value`), or several at once (`reports`, at most
    MAX_REPORTS_PER_REQUEST), stored in one transaction as that many single reports in
    order would be; with a pruner each is decided in turn. One form or the other."""

    step: int | None = Field(default=None, ge=0, le=MAX_STEP)
    value: float | None = None
    reports: ReportList | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        single = self.step is not None or self.value is not None
        if self.reports is not None and single:
            raise ValueError("send step and value, or reports, not both")
        if self.reports is None and (self.step is None or self.value is None):
            raise ValueError("a report needs step and value (or reports: [{step, value}, ...])")
        return self

    def pairs(self) -> list[tuple[int, float]]:
        if self.reports is not None:
            return [(r.step, r.value) for r in self.reports]
        assert self.step is not None and self.value is not None  # _one_form
        return [(self.step, self.value)]


class ReportOut(BaseModel):
    should_prune: bool


class CompleteBody(TokenBody):
    value: float
    metrics: Metrics = Field(default_factory=dict)
    # The trial's last intermediate values, not sent yet (a worker batches its reports when no
    # pruner needs them: `Lease.sync_reports`), stored in the complete's transaction.
    reports: ReportList = Field(default_factory=list)

    def report_pairs(self) -> list[tuple[int, float]]:
        return [(r.step, r.value) for r in self.reports]


class CompleteAndClaimBody(CompleteBody, _ClaimFields):
    """A complete plus the claim of the worker's next trial (the claim's fields). With
    `wait_seconds`, a claim that finds no work after the complete is held as a claim's is."""

    wait_seconds: float = Field(default=0.0, ge=0, le=3600)


class CompleteAndClaimOut(BaseModel):
    """The completed trial, and the worker's next trial (null: no work right now, poll
    `POST /workers/claim` later)."""

    trial: TrialView
    next: Lease | None


class FailBody(TokenBody):
    failure_class: FailureClass
    message: str = Field(default="", max_length=10_000)


class TellBody(TokenBody):
    """The result of a trial run by the user's own code: a value, or a failure."""

    value: float | None = None
    state: Literal["completed", "failed"] = "completed"
    failure_class: FailureClass = FailureClass.USER
    message: str = Field(default="", max_length=10_000)
    metrics: Metrics = Field(default_factory=dict)


class HypervolumeOut(BaseModel):
    """Hypervolume of the feasible completed trials after each one (in finishing order),
    against `reference` (in losses: maximized objectives negated); null before any result."""

    reference: list[float] | None
    numbers: list[int]
    hypervolume: list[float]


class HeartbeatOut(BaseModel):
    lease_expires_at: datetime


class Health(BaseModel):
    status: str
    version: str
    database: str


class ComparisonPatch(_Body):
    action: Literal["pause", "resume", "cancel"]


class FinalResultBody(_Body):
    """The test metric of a sampler's winner after final training (`hpo compare --final`)."""

    test_metric: float
    test_metric_sd: float | None = Field(default=None, ge=0)
    metric: str = Field(default="test_accuracy", min_length=1, max_length=64)
    seeds: list[int] = Field(default_factory=list, max_length=1000)
    study_id: int | None = None
    trial_id: int | None = None
