"""A study's trial numbering and active trials, as a claim reads them under the study lock."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from hpo.storage import TrialState
from hpo.storage.repositories import claim_path


@dataclass(frozen=True)
class ActiveTrials:
    """A study's trial numbering and active trials, read in that order (see `read_active`)."""

    top_number: int  # the highest trial number, -1 when the study has no trial
    rows: tuple[tuple[int, int, TrialState], ...]  # (id, number, state), by number

    @property
    def created(self) -> int:
        """How many trials the study has: numbers are 0, 1, 2... without gaps (they are
        given as max + 1 under the study lock, and trials are never deleted one by one)."""
        return self.top_number + 1

    @property
    def running(self) -> int:
        return sum(1 for _, _, state in self.rows if state is TrialState.RUNNING)

    @property
    def queued(self) -> int:
        return sum(1 for _, _, state in self.rows if state is TrialState.QUEUED)


def read_active(session: Session, study_id: int) -> ActiveTrials:
    """One statement of two index lookups, O(active trials): the highest number and the
    active trials, from one snapshot (what makes the incremental loading in `SamplerCache`
    complete: no trial numbered at most the top can be missing from both the active trials
    and the finished ones)."""
    top, rows = claim_path.active_trials(session, study_id)
    return ActiveTrials(-1 if top is None else top, tuple(rows))
