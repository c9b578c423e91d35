"""Suggestions: what a claim asks for new trials, behind three calls.

- `suggest(session, study, active, n)`: up to `n` configurations for a claim under the study
  lock (a suggestion prepared ahead when it is still current, else the cached sampler's ask);
- `result_in(study_id, state, sampler)`: a result changed the study's history: prepare its
  next suggestion in the background, or drop its sampler when the study is over;
- `forget(study_id)`: drop a study's sampler (the study completed, was cancelled or deleted).

Behind them: the per-process sampler cache (`sampler_cache`) and the background thread that
prepares suggestions (`prefetch`). `Service` builds one `Suggestions` and hands it to the
dispatcher and to the studies and comparisons halves (their `on_over`). Whether suggestions
are prepared in the background is the composer's choice (`prepare_in_background`): a
`Database` bound to one test connection must not be used from a second thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from hpo.samplers import SamplerRegistry
from hpo.samplers._process import SamplerProcesses
from hpo.service.dispatch.active_trials import ActiveTrials
from hpo.service.dispatch.prefetch import Prefetcher
from hpo.service.dispatch.sampler_cache import CHEAP_SAMPLERS, SamplerCache
from hpo.service.metrics import Metrics
from hpo.storage import Database, Study, StudyState
from hpo.storage import repositories as repo

# `SamplerCache.prepare`'s outcome -> the counter it adds to (hpo_suggestions_<name>_total).
_PREPARE_METRIC = {"prepared": "prepared", "current": "current", "no_room": "skipped_no_room"}


class Suggestions:
    """The sampler cache and the prefetcher, for the dispatcher and the studies halves."""

    def __init__(
        self,
        db: Database,
        registry: SamplerRegistry,
        metrics: Metrics,
        *,
        prepare_in_background: bool = True,
        max_observations: int = 200_000,
        sampler_processes: int = 0,
    ) -> None:
        """`sampler_processes`: child processes for busy studies' model-based samplers (see
        `sampler_cache`); 0 keeps every sampler in this process."""
        self.db = db
        self.metrics = metrics
        self.processes = SamplerProcesses(sampler_processes) if sampler_processes else None
        self.cache = SamplerCache(
            registry, max_observations=max_observations, processes=self.processes
        )
        # Started at once, not after a pause that would let the answer to the result's request
        # go out first: the same worker's next claim usually follows within milliseconds, and
        # waiting for the ask already under way beats starting a second one (measured: the
        # back-to-back rows of bench/suggest_path.py).
        self.prefetcher = Prefetcher(self._prepare) if prepare_in_background else None
        self._refill: set[int] = set()  # studies to prepare for once the claim commits
        self._refill_lock = threading.Lock()

    def suggest(
        self, session: Session, study: Study, active: ActiveTrials, n: int
    ) -> list[dict[str, Any]]:
        """Up to `n` distinct configurations from the study's sampler, told the whole history
        with the pending trials (so parallel workers get distinct suggestions); fewer (none)
        when the sampler is exhausted. Raises `SamplerFailed` (see `sampler_failures`)."""
        started = time.perf_counter()
        used = 0

        def count_used(k: int) -> None:
            nonlocal used
            used += k

        with self._counting_moves():
            suggested = self.cache.suggest(
                session, study, active, n, on_wait=self._waited, on_prepared=count_used
            )
        self.metrics.observe("hpo_ask_seconds", time.perf_counter() - started)
        if used:
            self.metrics.inc("hpo_suggestions_prepared_used_total", used)
            # A claim took what was ready: get the next ones ready before the next claim,
            # once the claim has committed (`after_claims`), so the background read sees it.
            if self.prefetcher is not None:
                with self._refill_lock:
                    self._refill.add(study.id)
        return suggested

    def _waited(self, seconds: float) -> None:
        self.metrics.observe("hpo_sampler_wait_seconds", seconds)

    def after_claims(self) -> None:
        """Call after a claim's transaction ended: prepare again for the studies whose
        prepared suggestions it used."""
        if self.prefetcher is None:
            return
        with self._refill_lock:
            studies, self._refill = self._refill, set()
        for study_id in studies:
            self.prefetcher.schedule(study_id)

    def claimed(self, study_id: int, trial_id: int, params: dict[str, Any]) -> None:
        """A claim handed out `params` as `trial_id`: the next refresh need not read them."""
        self.cache.claimed(study_id, trial_id, params)

    def result_in(self, study_id: int, state: StudyState, sampler: str) -> None:
        """A result changed the study's history: prepare its next suggestion (call after the
        commit, so the background read sees it), or drop its sampler if the study is over."""
        if state in (StudyState.COMPLETED, StudyState.CANCELLED):
            self.cache.forget(study_id)
            return
        if (
            self.prefetcher is not None
            and state is StudyState.RUNNING
            and sampler not in CHEAP_SAMPLERS
        ):
            self.prefetcher.schedule(study_id)

    def forget(self, study_id: int) -> None:
        """Drop a study's sampler (it is over, or gone); a later claim rebuilds it."""
        self.cache.forget(study_id)

    def close(self) -> None:
        """Stop the sampler processes (the server is shutting down)."""
        if self.processes is not None:
            self.processes.close()

    @contextmanager
    def _counting_moves(self) -> Iterator[None]:
        """Count the samplers the cache moved to (or brought back from) a sampler process."""
        moved, lost = self.cache.moved, self.cache.lost
        try:
            yield
        finally:
            if self.cache.moved > moved:
                self.metrics.inc("hpo_sampler_process_moves_total", self.cache.moved - moved)
            if self.cache.lost > lost:
                self.metrics.inc("hpo_sampler_process_losses_total", self.cache.lost - lost)

    def _prepare(self, study_id: int) -> None:
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            if study.state is not StudyState.RUNNING:
                return
            started, wall = time.thread_time(), time.perf_counter()
            with self._counting_moves():
                outcome = self.cache.prepare(session, study)
            self.metrics.observe("hpo_suggestion_prepare_seconds", time.perf_counter() - wall)
            # The background thread's CPU competes with training on the same cores: count it.
            self.metrics.inc(
                "hpo_suggestion_prepare_cpu_seconds_total", time.thread_time() - started
            )
            self.metrics.inc(f"hpo_suggestions_{_PREPARE_METRIC[outcome]}_total")
