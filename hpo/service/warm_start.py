"""Warm starts: a new study seeded with the completed trials of earlier ones.

`POST /api/v1/studies` with `warm_start: {from_studies: [3, 7]}` copies the completed trials
of studies 3 and 7 whose params fit the new study's space into it as imported trials
(`hpo.interop.records.append_imported`), in the creation's transaction. They are then history
like any other finished trial: every sampler is told them on its first ask (the sampler cache
loads a study's finished trials, imported or not), and none of them uses the budget. The same
path as `hpo import optuna`, so a warm start and an import seed a sampler alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from hpo.errors import ValidationError
from hpo.interop.records import TrialRecord, append_imported, trial_record
from hpo.space import SearchSpace
from hpo.storage import Study, TrialState
from hpo.storage import repositories as repo


def warm_start(session: Session, study: Study, space: SearchSpace, sources: Sequence[int]) -> int:
    """Import into `study` the completed trials of `sources` that fit `space`; returns how
    many. Refuses (400) an unknown id, the study itself, or a source of the other direction."""
    records: list[TrialRecord] = []
    for source_id in dict.fromkeys(sources):  # each source once, in the order given
        source = session.get(Study, source_id)
        if source is None or source_id == study.id:
            raise ValidationError(
                f"warm_start.from_studies: there is no study {source_id}; list the studies "
                "with GET /api/v1/studies"
            )
        if source.direction != study.direction:
            raise ValidationError(
                f"warm_start.from_studies: study {source_id} {source.direction}s and this "
                f"study {study.direction}s: their values cannot seed each other"
            )
        completed = repo.list_trials(session, source_id, states=[TrialState.COMPLETED], limit=None)
        records.extend(trial_record(t) for t in completed if space.contains(t.params))
    return append_imported(session, study, records, space=space)
