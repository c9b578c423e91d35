"""Sampling at claim time, with a per-process cache of samplers by study.

The protocol rebuilds a sampler from the whole history on every ask; done literally, a claim
on a 1000-trial study reloads every trial and re-creates (for TPE) an Optuna study from
scratch, hundreds of milliseconds under the study lock. So each process keeps, per study, the
sampler object and the observations it has already loaded, and on each claim reads only:

- the number of finished trials (an index count) and, when it moved, the rows of trials that
  finished recently (a window behind the latest finish time seen; all finished trials if the
  window missed some), appended in the order they finished (finished_at, id), so the history
  only ever grows at its end and the samplers take their incremental path (`BaseSampler.tell`
  and the Optuna adapter extend, not rebuild);
- the ids of queued and running trials, and the params of those it has not seen yet.

Any replica without the cache loads the same history in the same order, so it suggests the
same configurations (up to trials whose finish times tie across replicas' clocks). The cache
is only touched under the study's lock, plus a per-entry lock for callers that share a
process without a database lock between them.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hpo.samplers import Observation, Sampler, SamplerRegistry
from hpo.service._common import ACTIVE, FINISHED, study_space, to_observation
from hpo.storage import Study, Trial

# How far back, from the latest finish time seen, a claim looks for newly finished trials.
_WINDOW = timedelta(minutes=10)


@dataclass
class _Entry:
    fingerprint: str
    sampler: Sampler
    observations: list[Observation] = field(default_factory=list)
    finished_ids: set[int] = field(default_factory=set)
    pending_params: dict[int, dict[str, Any]] = field(default_factory=dict)
    watermark: datetime | None = None  # the latest finished_at among `observations`
    lock: threading.Lock = field(default_factory=threading.Lock)


class SamplerCache:
    """Samplers by study, least recently used evicted past `max_studies`."""

    def __init__(self, registry: SamplerRegistry, max_studies: int = 128) -> None:
        self.registry = registry
        self.max_studies = max_studies
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def suggest(self, session: Session, study: Study) -> dict[str, Any] | None:
        """One configuration for `study` (call under its lock), or None when exhausted."""
        entry = self._entry(study)
        with entry.lock:
            pending = self._refresh(session, study.id, entry)
            entry.sampler.tell(entry.observations, pending)
            suggestions = entry.sampler.ask(1)
        return dict(suggestions[0]) if suggestions else None

    def forget(self, study_id: int) -> None:
        with self._lock:
            self._entries.pop(study_id, None)

    def _entry(self, study: Study) -> _Entry:
        spec = study.spec
        fingerprint = json.dumps(
            [
                study.created_at.isoformat(),
                study.sampler,
                str(study.direction),
                spec.get("space"),
                spec.get("seed"),
                (spec.get("sampler") or {}).get("options"),
            ],
            sort_keys=True,
            default=str,
        )
        with self._lock:
            entry = self._entries.get(study.id)
            if entry is None or entry.fingerprint != fingerprint:
                sampler = self.registry.create(
                    study.sampler,
                    study_space(study),
                    direction=str(study.direction),  # type: ignore[arg-type]
                    seed=int(spec.get("seed") or 0),
                    options=(spec.get("sampler") or {}).get("options") or {},
                )
                entry = _Entry(fingerprint, sampler)
                self._entries[study.id] = entry
            self._entries.move_to_end(study.id)
            while len(self._entries) > self.max_studies:
                self._entries.popitem(last=False)
            return entry

    def _refresh(self, session: Session, study_id: int, entry: _Entry) -> list[dict[str, Any]]:
        """Append newly finished trials to the entry; return the pending configurations."""
        of_study = Trial.study_id == study_id
        finished = Trial.state.in_(FINISHED)
        # Active trials first: each statement sees the latest commits (READ COMMITTED), and a
        # trial may finish between two of them. Read in this order it shows up in both lists
        # (harmless); in the other order it could slip between them and be suggested again.
        active = list(session.scalars(select(Trial.id).where(of_study, Trial.state.in_(ACTIVE))))
        n_finished = session.scalar(select(func.count()).where(of_study, finished)) or 0
        if n_finished != len(entry.finished_ids) and entry.watermark is not None:
            # Usually one or two trials finished since the last claim: look only at recent
            # ones (a window, so that clocks of other API replicas may lag a little)...
            since = entry.watermark - _WINDOW
            self._append(
                entry, session.scalars(_ordered(of_study, finished, Trial.finished_at >= since))
            )
        if n_finished != len(entry.finished_ids):
            # ...and fall back to every finished trial when the window missed some.
            self._append(entry, session.scalars(_ordered(of_study, finished)))
        missing = [i for i in active if i not in entry.pending_params]
        if missing:
            rows = session.execute(select(Trial.id, Trial.params).where(Trial.id.in_(missing)))
            entry.pending_params.update({i: dict(p) for i, p in rows})
        active_set = set(active)
        for stale in [i for i in entry.pending_params if i not in active_set]:
            del entry.pending_params[stale]
        return [entry.pending_params[i] for i in active]

    @staticmethod
    def _append(entry: _Entry, trials: Iterable[Trial]) -> None:
        for trial in trials:
            if trial.id in entry.finished_ids:
                continue
            entry.finished_ids.add(trial.id)
            entry.observations.append(to_observation(trial))
            if trial.finished_at is not None and (
                entry.watermark is None or trial.finished_at > entry.watermark
            ):
                entry.watermark = trial.finished_at


def _ordered(*conditions: Any) -> Any:
    return select(Trial).where(*conditions).order_by(Trial.finished_at, Trial.id)
