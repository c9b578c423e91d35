"""Counts of trials that the service reads outside one study's views: the sampler cache's
consistency check and the /metrics gauge."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hpo.states import TrialState
from hpo.storage.models import Trial


def count_numbered_up_to(
    session: Session, study_id: int, top_number: int, excluding: Sequence[int]
) -> int:
    """Trials of the study numbered <= `top_number`, other than the ids in `excluding`."""
    count = session.scalar(
        select(func.count()).where(
            Trial.study_id == study_id,
            Trial.number <= top_number,
            Trial.id.not_in(list(excluding)),
        )
    )
    return int(count or 0)


def trial_state_totals(session: Session) -> dict[str, int]:
    """Trials in each state across every study, every state present (0 when none)."""
    rows = session.execute(select(Trial.state, func.count()).group_by(Trial.state))
    totals = dict.fromkeys((str(s) for s in TrialState), 0)
    totals.update({str(state): int(n) for state, n in rows})
    return totals
