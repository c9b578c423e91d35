"""The tracking sink: a background thread that logs finished trials to MLflow from the
outbox, off the request path.

A trial's finish writes one outbox row in its own transaction (`Outbox.enqueue`, hooked into
the dispatcher); nothing on the request path ever waits for MLflow. The sink takes due rows
oldest first; per row it makes (once) the experiment and, for a comparison, the parent and
study runs (their ids kept in `tracking_runs`), creates the trial's run and records its id on
the row, logs it, and deletes the row. When MLflow fails, the row keeps its place with the
error and a growing backoff (1 s doubling to a minute) and the pass stops; the next retries.
A run half-logged by a failed attempt is deleted and made again, so no trial is logged twice.
Run the sink on one API process (the one given the tracking URI).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from hpo.errors import one_line
from hpo.service.metrics import Metrics
from hpo.service.tracking.records import TrialForTracking, read_trial
from hpo.storage import Database, utcnow
from hpo.storage.repositories import tracking

log = logging.getLogger("hpo.tracking")

MAX_BACKOFF_SECONDS = 60.0
BATCH = 50


class RunWriter(Protocol):
    """What the sink needs of a tracking server (`MlflowWriter`)."""

    def experiment(self, name: str) -> str: ...
    def container_run(
        self, experiment_id: str, name: str, tags: dict[str, str], parent_run_id: str | None
    ) -> str: ...
    def start_trial_run(
        self, experiment_id: str, record: TrialForTracking, parent_run_id: str | None
    ) -> str: ...
    def fill_trial_run(self, run_id: str, record: TrialForTracking) -> None: ...
    def discard_run(self, run_id: str) -> None: ...


def experiment_name(record: TrialForTracking) -> str:
    """Named after the study (a comparison's studies: after the comparison), with the id:
    two studies may share a name."""
    if record.comparison_id is not None:
        return f"{record.comparison_name} (comparison {record.comparison_id})"
    return f"{record.study_name} (study {record.study_id})"


class TrackingSink:
    def __init__(
        self,
        db: Database,
        writer: RunWriter,
        metrics: Metrics,
        *,
        poll_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.writer = writer
        self.metrics = metrics
        self.poll_seconds = poll_seconds
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hpo-tracking", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """A trial finished: drain soon rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:  # the database itself failed: try again at the next poll
                log.exception("tracking sink: pass failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    # -- one pass -------------------------------------------------------------------------

    def drain(self) -> int:
        """Log every due row (in batches) until none is due or MLflow fails; returns how many
        runs were logged."""
        logged = 0
        while not self._stop.is_set():
            with self.db.transaction(write=False) as session:
                rows = [
                    (row.id, row.trial_id, row.attempts, row.run_id)
                    for row in tracking.due(session, self.clock(), BATCH)
                ]
            if not rows:
                return logged
            for row_id, trial_id, attempts, run_id in rows:
                try:
                    self._log_one(row_id, trial_id, run_id)
                except Exception as e:  # MLflow down or refusing: keep the row, back off
                    self._failed(row_id, attempts, e)
                    return logged
                logged += 1
                self.metrics.inc("hpo_tracking_runs_logged_total")

        return logged

    def _log_one(self, row_id: int, trial_id: int, stale_run_id: str | None) -> None:
        with self.db.transaction(write=False) as session:
            record = read_trial(session, trial_id)
        if record is None:  # deleted with its study meanwhile (the cascade took the row too)
            self._done(row_id)
            return
        if stale_run_id is not None:
            self.writer.discard_run(stale_run_id)
        experiment_id = self.writer.experiment(experiment_name(record))
        parent = self._study_run(experiment_id, record)
        run_id = self.writer.start_trial_run(experiment_id, record, parent)
        with self.db.transaction() as session:
            row = session.get(tracking.TrackingOutbox, row_id)
            if row is not None:
                row.run_id = run_id
        self.writer.fill_trial_run(run_id, record)
        self._done(row_id)

    def _study_run(self, experiment_id: str, record: TrialForTracking) -> str | None:
        """A comparison's study run (a child of the comparison's run), made once; None for a
        study of no comparison (its trials are top-level runs of its own experiment)."""
        if record.comparison_id is None:
            return None
        parent_key = f"comparison:{record.comparison_id}"
        parent = self._kept_run(
            parent_key,
            lambda: self.writer.container_run(
                experiment_id,
                str(record.comparison_name),
                {"hpo.comparison_id": str(record.comparison_id)},
                None,
            ),
            experiment_id,
        )
        return self._kept_run(
            f"comparison-study:{record.study_id}",
            lambda: self.writer.container_run(
                experiment_id,
                f"{record.sampler} seed {record.seed} (study {record.study_id})",
                {
                    "hpo.study_id": str(record.study_id),
                    "hpo.sampler": record.sampler,
                    "hpo.seed": str(record.seed),
                },
                parent,
            ),
            experiment_id,
        )

    def _kept_run(self, key: str, make: Callable[[], str], experiment_id: str) -> str:
        with self.db.transaction(write=False) as session:
            kept = tracking.get_run(session, key)
            if kept is not None and kept.run_id is not None:
                return kept.run_id
        run_id = make()
        with self.db.transaction() as session:
            tracking.put_run(session, key, experiment_id, run_id)
        return run_id

    def _done(self, row_id: int) -> None:
        with self.db.transaction() as session:
            tracking.done(session, row_id)

    def _failed(self, row_id: int, attempts: int, error: Exception) -> None:
        self.metrics.inc("hpo_tracking_errors_total")
        delay = min(MAX_BACKOFF_SECONDS, 2.0**attempts)
        message = one_line(f"{type(error).__name__}: {error}")[:1000]
        log.warning("tracking: trial not logged yet (retry in %.0f s): %s", delay, message)
        with self.db.transaction() as session:
            row = session.get(tracking.TrackingOutbox, row_id)
            if row is not None:
                row.attempts = attempts + 1
                row.last_error = message
                row.next_attempt_at = self.clock() + timedelta(seconds=delay)

    def backlog(self) -> int:
        with self.db.transaction(write=False) as session:
            return tracking.backlog(session)
