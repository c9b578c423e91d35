"""Which lease a complete-and-claim handed out, so that only its retry gets it again.

A worker that sends `complete-and-claim` and loses the answer retries it. The retry must get
the lease that the first attempt claimed (a second claim would leave the first trial leased
to nobody until its lease expired), and nobody else may get it. So the claim made by the first
attempt is stored on the completed trial's own row, in the claim's transaction: the next
trial's id and the sha256 of its lease token. The retry proves it is the same request the way
the first one did, with the completed trial's lease token; it gets the stored lease back if
that trial is still running under the very lease handed out (same token hash, not expired),
else a fresh claim. Nothing here is ever looked up by a worker id, which is a name anyone may
send (and read, in `GET .../trials`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hpo.service.dispatch.leases import lease_of
from hpo.service.tokens import same_secret, secret_digest
from hpo.service.views import Lease
from hpo.storage import Trial, TrialState
from hpo.storage import repositories as repo
from hpo.storage.repositories import leases as lease_rows


def bind_next_lease(session: Session, completed_trial_id: int, lease: Lease | None) -> None:
    """Record on the completed trial which lease its complete-and-claim handed out (None: no
    work then; a retry claims afresh)."""
    lease_rows.set_next_lease(
        session,
        completed_trial_id,
        next_trial_id=None if lease is None else lease.trial_id,
        next_lease_hash=None if lease is None else secret_digest(lease.lease_token),
    )


def bound_next_lease(
    session: Session, completed_trial_id: int, token: str, now: datetime
) -> Lease | None:
    """The lease that the first attempt of this complete-and-claim handed out, if `token` is
    the completed trial's lease token and that lease is still live; else None."""
    completed = session.get(Trial, completed_trial_id)
    if completed is None or completed.state is not TrialState.COMPLETED:
        return None
    if not same_secret(completed.lease_token, token) or completed.next_trial_id is None:
        return None
    following = session.get(Trial, completed.next_trial_id)
    if (
        following is None
        or following.state is not TrialState.RUNNING
        or following.lease_token is None
        or following.lease_expires_at is None
        or following.lease_expires_at <= now
    ):
        return None
    # Still the lease handed out, not a later one of a requeued trial, held by someone else.
    if not same_secret(completed.next_lease_hash, secret_digest(following.lease_token)):
        return None
    return lease_of(following, repo.get_study(session, following.study_id).spec)
