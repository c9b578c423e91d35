"""Sampling at claim time, with a per-process cache of samplers by study.

The protocol rebuilds a sampler from the whole history on every ask; done literally, a claim
on a 1000-trial study reloads every trial and re-creates (for TPE) an Optuna study from
scratch, hundreds of milliseconds under the study lock. So each process keeps, per study, the
sampler object and the observations it has already loaded, and on each claim reads only:

- the (id, state) of the study's trials, a light query without the JSON params;
- the full rows of trials that finished since the last claim, appended in the order they
  finished (finished_at, id), so the history only ever grows at its end and the samplers take
  their incremental path (`BaseSampler.tell` and the Optuna adapter extend, not rebuild);
- the params of pending trials it has not seen yet.

Any replica without the cache loads the same history in the same order, so it suggests the
same configurations (up to trials whose finish times tie across replicas' clocks). The cache
is only touched under the study's lock, plus a per-entry lock for callers that share a
process without a database lock between them.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hpo.samplers import Observation, Sampler, SamplerRegistry
from hpo.service._common import ACTIVE, FINISHED, study_space, to_observation
from hpo.storage import Study, Trial

# Above this many new results, one ordered query beats an IN list of ids.
_BULK = 200


@dataclass
class _Entry:
    fingerprint: str
    sampler: Sampler
    observations: list[Observation] = field(default_factory=list)
    finished_ids: set[int] = field(default_factory=set)
    pending_params: dict[int, dict[str, Any]] = field(default_factory=dict)
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
        states = session.execute(
            select(Trial.id, Trial.state).where(Trial.study_id == study_id)
        ).all()
        new_finished = [i for i, s in states if s in FINISHED and i not in entry.finished_ids]
        active = [i for i, s in states if s in ACTIVE]
        if new_finished:
            query = select(Trial).where(Trial.study_id == study_id)
            if len(new_finished) > _BULK:
                query = query.where(Trial.state.in_(FINISHED))
            else:
                query = query.where(Trial.id.in_(new_finished))
            rows = session.scalars(query.order_by(Trial.finished_at, Trial.id))
            for trial in rows:
                if trial.id in entry.finished_ids:
                    continue
                entry.finished_ids.add(trial.id)
                entry.observations.append(to_observation(trial))
        missing = [i for i in active if i not in entry.pending_params]
        if missing:
            rows2 = session.execute(select(Trial.id, Trial.params).where(Trial.id.in_(missing)))
            entry.pending_params.update({i: dict(p) for i, p in rows2})
        active_set = set(active)
        for stale in [i for i in entry.pending_params if i not in active_set]:
            del entry.pending_params[stale]
        return [entry.pending_params[i] for i in active]
