"""Sampling at claim time, with a per-process cache of samplers by study, and suggestions
prepared ahead of the claim.

The protocol rebuilds a sampler from the whole history on every ask; done literally, a claim
on a 1000-trial study reloads every trial and re-creates (for TPE) an Optuna study from
scratch, hundreds of milliseconds under the study lock. So each process keeps, per study, the
sampler object and the observations it has already loaded, and on each claim reads only what
changed, in O(new + active) rows, never O(history):

- `read_active` (the claim reads it anyway): the highest trial number M and the queued and
  running trials (id, number, state), in one statement;
- the finished trials among the candidates: those active at the previous read, and those
  numbered above the previous M. Nothing else can have finished since: numbers are given
  under the study lock and committed in order (so every trial numbered <= M was visible at
  that read), and a finished trial never becomes active again. So after each read, every
  trial numbered <= M is either loaded or active. The first read of a study loads every
  finished trial; every `recount_every` reads, a count of the trials numbered <= M that were
  not active double-checks this (a mismatch reloads the study's history from scratch);
- the params of active trials it has not seen yet.

New results are appended in the order they finished (finished_at, id), so the history only grows
at its end and the samplers take their incremental path (`IncrementalSampler.extend`, through
`SamplerFeed`: the Optuna adapter extends its study, not rebuilds it). Any replica without the
cache loads the same history in the same order, so it suggests the same configurations (up to
trials whose finish times tie across replicas' clocks).

Prepared suggestions: for the model-based samplers, whose ask costs milliseconds to seconds
(TPE, GP, CMA-ES, LIPO), `prepare` runs the ask in the background as soon as a result comes
in (and after a claim took a prepared one), and stores it with the version of the history it
was asked with (the number of observations and the ids of the pending trials, in order). A
claim under the study lock refreshes the entry and uses a prepared suggestion when

- its version is the current one, i.e. it is exactly what the claim would have asked for
  itself (the samplers are deterministic in their history); or
- many trials run at once (`NEAR_PENDING` or more pending) and it is at most one result per
  `NEAR_PENDING` pending trials behind, and not pending by now. With 32 workers results and
  claims interleave so tightly that an exact version almost never survives until the next
  claim: measured, 9 of 135 prepared TPE suggestions were used, and the other 126 asks were
  CPU taken from the claims' own asks (bench/sampler_dispatch.py). A suggestion a few results
  behind differs from the exact one as little as the order in which 32 parallel results
  happen to arrive, which no schedule fixes anyway; with fewer pending trials the exact rule
  alone holds, so small studies stay reproducible.

With many pending trials `prepare` also keeps more than one ready (one per `DEPTH_PENDING`
pending, asked with each other as pending so they differ), since a burst of claims would
otherwise find one prepared suggestion and ask for the rest under the study lock; the ones a
claim does not use stay ready for the next claims. The sampler and its history are touched
under a per-entry lock, so the background ask and a claim never use one sampler at once; the
prepared suggestions and the pending trials' params have a lock of their own, held only for
list and dict updates, and in that many-pending case a claim takes prepared suggestions under
it alone (`_take`: the staleness rule counted from the active trials it read, no refresh), so
it does not wait for the background ask under way (before it, a claim batch of a 32-worker
TPE run waited 4 ms for one on average) and keeps the refresh's reads out of the study lock.

Memory. An entry keeps no history of its own: what it loads since the sampler's last ask is
handed over with `IncrementalSampler.extend` and dropped (`SamplerFeed`), and each sampler keeps
what it needs (`BaseSampler.keep_*`): random, qmc and grid nothing per trial (a hash per
configuration in a finite space), LIPO numpy rows, Optuna's samplers the observations and their
in-memory study. (A sampler that is not an `IncrementalSampler` is told the whole history, which
the feed keeps.) To not load a trial twice, the entry remembers a watermark W, below which every
trial is loaded (W + 1 is the lowest-numbered trial still active, or the top number + 1), and
the ids of the loaded trials numbered above it: O(trials in flight), not O(history). Together
these are bounded by `max_observations` (`HPO_SAMPLER_CACHE_MAX_OBSERVATIONS`), counted over
what the cached samplers keep per observation: past it, least recently used studies are dropped
(and rebuilt from the database on their next claim). A study that alone exceeds it is dropped
after each use, so memory stays bounded whatever the studies' sizes, at the cost of a full
reload per claim for that study. The dispatcher also drops a study's entry when the study
completes or is cancelled or deleted (`forget`).

Busy studies' samplers in a child process. With `processes` (`HPO_SAMPLER_PROCESSES`), a
model-based sampler whose study has `BUSY_PENDING` or more pending trials moves into one of
them (`hpo.samplers._process`): the entry gets a `RemoteSampler` told the whole history once,
and from then on its asks run off the API process's GIL (measured: with 32 workers the API
process sat at ~85 % of one core in TPE's asks, the other core mostly idle). Small studies
stay in process (no child is started for them, and nothing crosses a pipe). A child that dies
is not the sampler's fault, so it never pauses the study: the entry is rebuilt in process from
the database and stays there (`SamplerProcessLost`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from hpo.objectives import StudyObjectives
from hpo.samplers import IncrementalSampler, Sampler, SamplerFeed, SamplerRegistry, taken_key
from hpo.samplers._process import SamplerProcesses, SamplerProcessLost, can_send
from hpo.service._common import study_space, target_trials, to_observation
from hpo.service.dispatch.active_trials import ActiveTrials, read_active
from hpo.service.dispatch.sampler_failures import SamplerFailed
from hpo.storage import Study
from hpo.storage.repositories import claim_path, counts
from hpo.storage.repositories.claim_path import TrialRow

# The logger keeps its name from before the dispatch package (log configurations name it).
log = logging.getLogger("hpo.service.sampling")

# What `SamplerCache.prepare` did: asked ahead, found its earlier answer still current, or
# skipped because no claim could use an answer now.
Preparation = Literal["prepared", "current", "no_room"]

# What a suggestion depends on: the number of observations (the list only grows) and the
# pending trials' ids in order.
_Version = tuple[int, tuple[int, ...]]

# See the module docstring: from this many pending trials on, a prepared suggestion up to one
# result per NEAR_PENDING pending behind is used; one more is kept ready per DEPTH_PENDING.
NEAR_PENDING = 8
DEPTH_PENDING = 16
MAX_PREPARED = 4
# From this many pending trials on, a model-based sampler moves to a sampler process (when the
# cache has them): the many-workers case, where asks come back to back.
BUSY_PENDING = 8

# Samplers whose ask is cheap and ignores the history's values: asked at claim time, never
# prepared ahead (a prepared suggestion would almost never match the claim's version), never
# moved to a sampler process (the pipe would cost more than the ask).
CHEAP_SAMPLERS = frozenset({"random", "qmc", "grid"})


@dataclass(frozen=True)
class _Prepared:
    version: _Version
    params: dict[str, Any] | None  # None: the sampler was exhausted at that version

    @property
    def loaded(self) -> int:
        return self.version[0]


@dataclass
class _Entry:
    fingerprint: str
    # The sampler, and the observations loaded since its last ask (see `SamplerFeed`).
    feed: SamplerFeed
    loaded: int = 0  # finished trials loaded (told, or held by the feed)
    watermark: int = -1  # every trial numbered <= it is finished and loaded
    recent: dict[int, int] = field(default_factory=dict)  # loaded above the watermark: id -> number
    pending_params: dict[int, dict[str, Any]] = field(default_factory=dict)
    top_number: int = -1  # M of the previous read: every trial numbered <= it is accounted for
    active_ids: frozenset[int] = frozenset()  # active at the previous read
    refreshes: int = 0
    prepared: list[_Prepared] = field(default_factory=list)  # oldest first; under pool_lock
    weight: int = 0  # observations held for this study (see `SamplerCache.max_observations`)
    remote: bool = False  # the sampler lives in a sampler process
    stay_local: bool = False  # it lost its process once (or could not go): it stays here
    lock: threading.Lock = field(default_factory=threading.Lock)  # the sampler and its history
    # `prepared` and `pending_params`: a claim takes a prepared suggestion under this lock
    # alone, never waiting for a background ask that holds `lock` (`SamplerCache._take`).
    pool_lock: threading.Lock = field(default_factory=threading.Lock)
    # Trials handed out since the last refresh began (`claimed`): a refresh that read the
    # active trials before their claim committed keeps their params (see `_read`).
    claimed_lately: set[int] = field(default_factory=set)

    @property
    def sampler(self) -> Sampler:
        return self.feed.sampler

    def is_loaded(self, trial_id: int, number: int) -> bool:
        return number <= self.watermark or trial_id in self.recent

    def restart(self) -> None:
        """Forget the history: the next refresh loads it again from the database."""
        self.feed.restart()
        self.loaded = 0
        self.watermark, self.recent = -1, {}
        self.top_number, self.active_ids = -1, frozenset()
        with self.pool_lock:
            self.prepared = []


class SamplerCache:
    """Samplers by study, least recently used evicted past `max_studies`, or past
    `max_observations` observations held by the cached samplers together (see the module
    docstring)."""

    # Every this many refreshes of an entry, double-check its incremental loading with a
    # count (see the module docstring).
    recount_every = 256

    def __init__(
        self,
        registry: SamplerRegistry,
        max_studies: int = 128,
        max_observations: int = 200_000,
        processes: SamplerProcesses | None = None,
    ) -> None:
        self.registry = registry
        self.processes = processes
        self.moved = 0  # entries moved to a sampler process (tests, metrics)
        self.lost = 0  # entries brought back after their process was lost (tests, metrics)
        self.max_studies = max_studies
        self.max_observations = max_observations
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.prepared_used = 0  # claims served by a prepared suggestion (tests, metrics)
        self.evicted = 0  # entries dropped for the bounds (tests, metrics)

    @property
    def observations(self) -> int:
        """Observations held by the cached samplers together (what the bound counts)."""
        with self._lock:
            return sum(e.weight for e in self._entries.values())

    def __contains__(self, study_id: int) -> bool:
        with self._lock:
            return study_id in self._entries

    def suggest(
        self,
        session: Session,
        study: Study,
        active: ActiveTrials,
        n: int = 1,
        on_wait: Callable[[float], None] | None = None,
        on_prepared: Callable[[int], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Up to `n` distinct configurations for `study` (call under its lock, with `active`
        read under it); fewer, or none, when the sampler is exhausted. A prepared suggestion
        serves a single ask (`n` = 1) of its version. Raises `SamplerFailed` when building
        or asking the sampler raises (the entry is dropped). `on_wait(seconds)`: how long
        the claim waited for the entry (a background preparation held it);
        `on_prepared(count)`: how many of the suggestions were prepared ahead."""

        def count(suggestions: list[dict[str, Any]], prepared: int) -> list[dict[str, Any]]:
            self.prepared_used += prepared
            if on_prepared is not None and prepared:
                on_prepared(prepared)
            return suggestions

        entry = self._entry(study)
        try:
            taken = count(*self._take(entry, active, n))
            if len(taken) == n:
                return taken
            started = time.perf_counter()
            with entry.lock:
                if on_wait is not None:
                    on_wait(time.perf_counter() - started)
                # A background preparation held the sampler: what it just readied is taken
                # as above, without the refresh below.
                taken += count(*self._take(entry, active, n - len(taken), taken))
                if len(taken) == n:
                    return taken
                try:
                    more = count(*self._suggest(session, study, entry, active, n, taken))
                except SamplerProcessLost as e:
                    self._bring_back(study, entry, e)
                    more = count(*self._suggest(session, study, entry, active, n, taken))
                return taken + more
        finally:
            self._shrink(study.id)

    def _take(
        self,
        entry: _Entry,
        active: ActiveTrials,
        n: int,
        taken: list[dict[str, Any]] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Many trials in flight: up to `n` prepared suggestions near enough to the history
        `active` shows (see the module docstring), without the entry's lock, so a claim does
        not wait for a background ask nor refresh the sampler (the next preparation does).
        Only when the params of every active trial are known here (else the claim's refresh
        reads them). `taken`: suggestions this claim already took (they count as pending)."""
        if len(active.rows) < NEAR_PENDING or n <= 0:
            return [], 0
        # Every trial numbered below `created` is finished or active (see `ActiveTrials`).
        finished = active.created - len(active.rows)
        with entry.pool_lock:
            if not entry.prepared:
                return [], 0
            try:
                pending = [entry.pending_params[i] for i, _, _ in active.rows]
            except KeyError:  # handed out by another replica, or enqueued
                return [], 0
            used = self._near_locked(entry, finished, pending + (taken or []), n)
        return used, len(used)

    def _suggest(
        self,
        session: Session,
        study: Study,
        entry: _Entry,
        active: ActiveTrials,
        n: int,
        taken: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], int]:
        """`n` - len(`taken`) more suggestions, under the entry's lock: the refreshed
        history's exact prepared one, else near ones, else the sampler's ask; and how many
        of them were prepared."""
        version, pending = self._refresh(session, study, entry, active)
        with entry.pool_lock:
            exact = [p for p in entry.prepared if p.version == version]
            if not taken and n == 1 and exact:
                entry.prepared = [p for p in entry.prepared if p is not exact[0]]
                return ([] if exact[0].params is None else [dict(exact[0].params)]), 1
            used = self._near_locked(entry, version[0], pending + taken, n - len(taken))
        prepared = len(used)
        if len(taken) + len(used) < n:
            more = n - len(taken) - len(used)
            used += self._ask_for(study, entry, pending + taken + used, more)
        return used, prepared

    @staticmethod
    def _near_locked(
        entry: _Entry, finished: int, pending: list[dict[str, Any]], n: int
    ) -> list[dict[str, Any]]:
        """Under `entry.pool_lock`: take up to n prepared suggestions near enough to a history
        of `finished` results (see the module docstring), distinct from the `pending`
        configurations and from each other; drop the ones that are too far behind (the rest
        stay for the next claims)."""
        if len(pending) < NEAR_PENDING:
            return []
        behind = len(pending) // NEAR_PENDING
        taken = {taken_key(p) for p in pending}
        out: list[dict[str, Any]] = []
        kept: list[_Prepared] = []
        for p in entry.prepared:
            if p.params is None or finished - p.loaded > behind:
                continue
            key = taken_key(p.params)
            if key in taken:
                continue  # claimed meanwhile (as a prepared one, or asked at a claim)
            if len(out) < n:
                taken.add(key)
                out.append(dict(p.params))
            else:
                kept.append(p)
        entry.prepared = kept
        return out

    def prepare(self, session: Session, study: Study) -> Preparation:
        """Ask ahead of the next claim (no study lock needed: it only reads), but only when a
        claim could use the answer: not while queued or enqueued trials wait (claims serve
        those first), the budget is all handed out, or max_parallel trials run (the next
        result moves the history, and the answer with it)."""
        active = read_active(session, study.id)
        if (
            active.queued > 0
            or active.created >= target_trials(study)
            or active.running >= study.max_parallel
        ):
            return "no_room"
        entry = self._entry(study)
        try:
            with entry.lock:
                try:
                    return self._prepare(session, study, entry, active)
                except SamplerProcessLost as e:
                    self._bring_back(study, entry, e)
                    return self._prepare(session, study, entry, active)
        finally:
            self._shrink(study.id)

    def _prepare(
        self, session: Session, study: Study, entry: _Entry, active: ActiveTrials
    ) -> Preparation:
        version, pending = self._refresh(session, study, entry, active)
        with entry.pool_lock:
            if any(p.version == version for p in entry.prepared):
                return "current"
            # What a claim could still use (see `_near_locked`): the rest is dropped.
            entry.prepared = kept = [
                p
                for p in entry.prepared
                if p.params is not None
                and len(pending) >= NEAR_PENDING
                and version[0] - p.loaded <= len(pending) // NEAR_PENDING
            ]
        room = min(target_trials(study) - active.created, study.max_parallel - active.running)
        depth = min(MAX_PREPARED, 1 + len(pending) // DEPTH_PENDING, room)
        if len(kept) >= depth:
            return "current"
        ahead = [dict(p.params) for p in kept if p.params is not None]
        # Asked without the pool's lock: meanwhile claims may take the kept ones (`_take`).
        asked = self._ask_for(study, entry, pending + ahead, depth - len(kept))
        with entry.pool_lock:
            if not asked:  # exhausted at this version
                entry.prepared = [_Prepared(version, None)]
            else:
                entry.prepared += [_Prepared(version, params) for params in asked]
        return "prepared"

    def _place(self, study: Study, entry: _Entry, pending: int) -> bool:
        """Move a busy study's model-based sampler to its sampler process (see the module
        docstring); True when it moved, and its history must be loaded again."""
        if (
            self.processes is None
            or entry.remote
            or entry.stay_local
            or pending < BUSY_PENDING
            or study.sampler in CHEAP_SAMPLERS
            or not isinstance(entry.sampler, IncrementalSampler)
        ):
            return False
        registered = self.registry.entry(study.sampler)
        if not can_send(registered):  # e.g. a factory registered as a lambda
            entry.stay_local = True
            return False
        process = self.processes.for_study(study.id)
        if not process.is_warm(study.sampler):
            # Started off this lock: the sampler moves at a later refresh, once it runs.
            process.warm_soon(registered, study.sampler)
            return False
        try:
            remote = process.create(
                registered,
                study.sampler,
                study_space(study),
                self._sampler_arguments(study),
            )
        except Exception as e:  # the process, or a sampler that cannot be built there
            entry.stay_local = True
            log.warning("study %s: its sampler stays in process (%s)", study.id, e)
            return False
        entry.feed, entry.remote = SamplerFeed(remote), True
        entry.restart()
        self.moved += 1
        log.info(
            "study %s: %s pending trials, sampler moved to %s", study.id, pending, process.name
        )
        return True

    def _bring_back(self, study: Study, entry: _Entry, lost: SamplerProcessLost) -> None:
        """The entry's sampler process is gone: rebuild the sampler here, from the database
        (the next refresh), and keep it here."""
        log.warning("study %s: %s; its sampler is rebuilt in process", study.id, lost)
        try:
            sampler = self._new_sampler(study)
        except Exception as e:
            raise SamplerFailed(study.id, study.sampler, e) from e
        entry.feed, entry.remote, entry.stay_local = SamplerFeed(sampler), False, True
        entry.restart()
        self.lost += 1

    def claimed(self, study_id: int, trial_id: int, params: dict[str, Any]) -> None:
        """Record a trial this process just handed out, so the next refresh need not read
        its params (if the claim rolls back, the next refresh drops it)."""
        with self._lock:
            entry = self._entries.get(study_id)
        if entry is not None:
            with entry.pool_lock:
                entry.pending_params[trial_id] = dict(params)
                entry.claimed_lately.add(trial_id)

    def forget(self, study_id: int) -> None:
        """Drop a study's entry (the study is over, or gone); a later claim rebuilds it."""
        with self._lock:
            self._entries.pop(study_id, None)

    def _shrink(self, current: int) -> None:
        """Evict least recently used entries while the cached samplers together hold more
        than `max_observations`; `current` (just used) goes last, and only when it alone is
        over the bound."""
        with self._lock:
            total = sum(e.weight for e in self._entries.values())
            if total <= self.max_observations:
                return
            # Entries that hold nothing per observation stay: dropping them frees nothing.
            order = [i for i, e in self._entries.items() if i != current and e.weight > 0]
            for study_id in [*order, current]:
                if total <= self.max_observations:
                    break
                entry = self._entries.pop(study_id, None)
                if entry is None:
                    continue
                total -= entry.weight
                self.evicted += 1
                if study_id == current:
                    log.info(
                        "study %s: its sampler holds %s observations, over the cache's bound "
                        "of %s (HPO_SAMPLER_CACHE_MAX_OBSERVATIONS): not kept between claims",
                        study_id,
                        entry.weight,
                        self.max_observations,
                    )

    def _ask_for(
        self, study: Study, entry: _Entry, pending: list[dict[str, Any]], n: int
    ) -> list[dict[str, Any]]:
        try:
            return self._ask(entry, pending, n)
        except SamplerProcessLost:
            raise  # not the sampler's fault: the caller brings it back in process
        except Exception as e:  # the sampler's own code: nothing here touches the database
            with self._lock:
                self._entries.pop(study.id, None)  # its state is unknown now: rebuild
            raise SamplerFailed(study.id, study.sampler, e) from e

    @staticmethod
    def _ask(entry: _Entry, pending: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
        entry.feed.tell(pending)
        suggestions = entry.sampler.ask(n)
        entry.weight = entry.feed.weight
        return [dict(params) for params in suggestions[:n]]

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
                try:
                    sampler = self._new_sampler(study)
                except Exception as e:  # options the sampler cannot work with
                    raise SamplerFailed(study.id, study.sampler, e) from e
                entry = _Entry(fingerprint, SamplerFeed(sampler))
                self._entries[study.id] = entry
            self._entries.move_to_end(study.id)
            while len(self._entries) > self.max_studies:
                self._entries.popitem(last=False)
            return entry

    def _new_sampler(self, study: Study) -> Sampler:
        arguments = self._sampler_arguments(study)
        return self.registry.create(study.sampler, study_space(study), **arguments)

    @staticmethod
    def _sampler_arguments(study: Study) -> dict[str, Any]:
        """`SamplerRegistry.create`'s keyword arguments for the study's sampler."""
        spec = study.spec
        objectives = StudyObjectives.of_spec(spec)
        return {
            "direction": study.direction,
            "seed": int(spec.get("seed") or 0),
            "options": (spec.get("sampler") or {}).get("options") or {},
            "directions": objectives.directions,
            "n_constraints": len(objectives.constraints),
        }

    def _refresh(
        self, session: Session, study: Study, entry: _Entry, active: ActiveTrials
    ) -> tuple[_Version, list[dict[str, Any]]]:
        """Append newly finished trials to the entry (see the module docstring), moving a busy
        study's sampler to its process first; return the history's version and the pending
        configurations, in trial-number order."""
        version, pending = self._read(session, study.id, entry, active)
        if self._place(study, entry, len(pending)):
            version, pending = self._read(session, study.id, entry, active)
        return version, pending

    def _read(
        self, session: Session, study_id: int, entry: _Entry, active: ActiveTrials
    ) -> tuple[_Version, list[dict[str, Any]]]:
        entry.refreshes += 1
        with entry.pool_lock:
            claimed_before, entry.claimed_lately = entry.claimed_lately, set()
        if entry.refreshes % self.recount_every == 0:
            self._recount(session, study_id, entry)
        finished = claim_path.finished_candidates(
            session, study_id, entry.top_number, sorted(entry.active_ids)
        )
        self._append(entry, finished)
        entry.top_number = max(entry.top_number, active.top_number)
        # A trial active at the read may have finished (and been loaded) just after it.
        still = [(i, n) for i, n, _ in active.rows if not entry.is_loaded(i, n)]
        active_ids = [i for i, _ in still]
        entry.active_ids = frozenset(active_ids)
        # Every trial numbered <= top_number is now loaded or active: those below the lowest
        # active one are all loaded, and need not be remembered one by one.
        watermark = min((n for _, n in still), default=entry.top_number + 1) - 1
        if watermark > entry.watermark:
            entry.watermark = watermark
            entry.recent = {i: n for i, n in entry.recent.items() if n > watermark}
        entry.weight = entry.feed.weight
        with entry.pool_lock:
            missing = [i for i in active_ids if i not in entry.pending_params]
        read = claim_path.params_of(session, missing) if missing else {}
        with entry.pool_lock:
            entry.pending_params.update(read)
            # Kept: the trials active at this read, and those claimed since just before it
            # (`claimed` runs before the claim commits, so the read may not have seen them).
            keep = entry.active_ids | claimed_before | entry.claimed_lately
            for stale in [i for i in entry.pending_params if i not in keep]:
                del entry.pending_params[stale]
            pending = [entry.pending_params[i] for i in active_ids]
        version = (entry.loaded, tuple(active_ids))
        return version, pending

    @staticmethod
    def _recount(session: Session, study_id: int, entry: _Entry) -> None:
        """After a read, every trial numbered <= M that was not active is finished for good
        and must be loaded: count those in the database and compare."""
        top, active = entry.top_number, entry.active_ids
        in_database = counts.count_numbered_up_to(session, study_id, top, sorted(active))
        # Every loaded trial is below the watermark (so <= top, and not active) or in
        # `recent`; active trials are never loaded.
        loaded = entry.loaded - sum(1 for n in entry.recent.values() if n > top)
        if in_database != loaded:
            log.warning(
                "study %s: %s finished trials loaded but %s in the database; reloading its history",
                study_id,
                loaded,
                in_database,
            )
            # Reload from scratch: the samplers are told the whole history again, which does
            # not extend the old one, and rebuild their own state (the protocol requires it).
            entry.restart()

    @staticmethod
    def _append(entry: _Entry, trials: Iterable[TrialRow]) -> None:
        for trial in trials:
            if entry.is_loaded(trial.id, trial.number):
                continue
            entry.recent[trial.id] = trial.number
            entry.loaded += 1
            entry.feed.append(to_observation(trial))  # a Row reads like a Trial
