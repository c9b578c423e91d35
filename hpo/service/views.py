"""What the service returns: plain frozen values, independent of SQLAlchemy sessions, so the
API, the CLI and tests can use them after the transaction has closed. They live in hpo.wire
(storage-free, shared with hpo.client, which parses the same types back from the API's JSON);
the service builds them from its rows with `.of(row)`, typed against the protocols there that
the ORM objects and Core rows of hpo.storage satisfy."""

from __future__ import annotations

from hpo.wire import (
    BestConfig,
    CreatedStudy,
    FailureCount,
    Lease,
    StudyView,
    TrialPage,
    TrialView,
    WorkerView,
)

__all__ = [
    "BestConfig",
    "CreatedStudy",
    "FailureCount",
    "Lease",
    "StudyView",
    "TrialPage",
    "TrialView",
    "WorkerView",
]
