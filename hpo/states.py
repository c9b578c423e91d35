"""The enumerations every layer shares: a study's and a trial's state, why a trial failed,
and the direction of optimization.

Here, not in `hpo.storage.models`, so that the API's schemas, the wire types and the samplers
can name them without importing SQLAlchemy or the tables; the models store these same enums
(as their values, see `hpo.storage._types.str_enum`), and `hpo.storage` re-exports them.
"""

from __future__ import annotations

import enum
from typing import Literal, TypeAlias


class StudyState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TrialState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


class Direction(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


# A direction where one is taken as input (samplers, `hpo.optimize`, `create_study`): the
# enum, or its value as text, which is what specs, YAML files and Python callers write. The
# two compare equal (`Direction.MINIMIZE == "minimize"`), so code reading either needs no
# conversion.
DirectionLike: TypeAlias = Direction | Literal["minimize", "maximize"]
DIRECTIONS: tuple[DirectionLike, ...] = ("minimize", "maximize")


class FailureClass(enum.StrEnum):
    """Why a trial failed; decides whether it is retried (see DESIGN.md, Decisions)."""

    LOST = "lost"  # lease expired or worker stopped: requeued with the same params
    DIVERGED = "diverged"  # NaN/inf loss: a (bad) result for the sampler, not retried
    OOM = "oom"  # out of device memory: recorded, not retried on the same device
    CONFIG = "config"  # the params or task cannot be trained: not retried
    USER = "user"  # the user's own objective raised (ask/tell): not retried
    CANCELLED = "cancelled"  # the study was cancelled while the trial ran
    INTERNAL = "internal"  # a bug on our side: reported, not retried
    TIMEOUT = "timeout"  # past budget.max_trial_seconds, or a command past its timeout_s
