"""Leases: what a claim writes on a trial (token, expiry, worker), how a later call proves it
holds the lease, and the failure classes a worker may end an attempt with.

Every claim returns a lease token and an expiry. Heartbeats and reports renew the lease; a
report, heartbeat, complete or fail with a stale or wrong token gets `LeaseError` (409) and
changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hpo.errors import LeaseError, ValidationError
from hpo.pruners import reports_answered
from hpo.service._common import training_config
from hpo.service.tokens import same_secret
from hpo.service.views import Lease
from hpo.storage import FailureClass, Trial

# What `new_lease_token` makes (32 characters); the API refuses any other lease token with a
# 422 before it reaches the service.
LEASE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

# Failure classes after which the trial is retried (until max_attempts); every other is final.
RETRIED = frozenset({FailureClass.LOST})


def new_lease_token() -> str:
    return secrets.token_urlsafe(24)


def lease_columns(
    worker_id: str, devices: tuple[str, ...], now: datetime, expiry: datetime
) -> dict[str, Any]:
    """The columns a claim sets on the trial it leases (a fresh token each)."""
    return {
        "lease_token": new_lease_token(),
        "lease_expires_at": expiry,
        "worker_id": worker_id,
        "device": devices[0] if devices else None,
        "started_at": now,
    }


def lease_of(trial: Trial, spec: Mapping[str, Any]) -> Lease:
    """The lease of a running trial (its token and expiry set)."""
    assert trial.lease_token is not None and trial.lease_expires_at is not None
    return Lease(
        trial_id=trial.id,
        study_id=trial.study_id,
        number=trial.number,
        attempt=trial.attempt,
        params=dict(trial.params),
        config=training_config(spec, trial.params),
        lease_token=trial.lease_token,
        lease_expires_at=trial.lease_expires_at,
        sync_reports=reports_answered(spec),
    )


def token_matches(expected: str | None, given: str) -> bool:
    # Constant-time, on bytes: the token is a capability for this trial.
    return same_secret(expected, given or "")


def check_token(trial: Trial, token: str, action: str) -> None:
    if not token_matches(trial.lease_token, token):
        raise LeaseError(
            f"cannot {action} trial {trial.id}: the lease token is wrong or stale (the lease "
            "expired and the trial was requeued, or another worker holds it); abandon it"
        )


def failure_class(value: FailureClass | str) -> FailureClass:
    try:
        return FailureClass(value)
    except ValueError as e:
        valid = ", ".join(c.value for c in FailureClass)
        raise ValidationError(f"unknown failure_class {value!r}: use one of {valid}") from e
