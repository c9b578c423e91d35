"""A study whose sampler fails at claim time is paused, so it never fails anyone else's claim.

A sampler is user configuration run inside the claim (its options, its space, its history): an
exception from it, left alone, would fail the claim's whole batch (other workers, other studies)
and do so again on every later claim, while the workers that got the error stop or spin. So
`SamplerCache` (`sampler_cache`) raises `SamplerFailed` for any exception from building or
asking a sampler (never for a database error: those keep their own meaning); the claim rolls
back, pauses that study with the reason in `studies.paused_reason` (the study view, the CLI and
the page show it), logs it, counts it (`hpo_sampler_failures_total`), and is served again from
the other studies (see `pause_for_sampler_failure` for why in that order). Resuming the study
(after fixing what the reason says) tries its sampler again.
"""

from __future__ import annotations

import logging

from hpo.service._common import pause_study
from hpo.service.metrics import Metrics
from hpo.storage import Database, StudyState, lock_study

log = logging.getLogger("hpo.service.sampler_failures")

METRIC = "hpo_sampler_failures_total"


class SamplerFailed(Exception):
    """Building or asking a study's sampler raised; the cause is chained."""

    def __init__(self, study_id: int, sampler: str, cause: BaseException) -> None:
        super().__init__(f"sampler {sampler!r} failed: {type(cause).__name__}: {cause}")
        self.study_id = study_id
        self.sampler = sampler


def pause_for_sampler_failure(db: Database, failure: SamplerFailed, metrics: Metrics) -> str:
    """Pause the failed study and say why, in a transaction of its own; returns the reason.

    The claim that met the failure has rolled back first (the caller lets `SamplerFailed`
    out of its transaction, then reruns the claim): a batch that kept the broken study's lock
    while it went on to wait for another study's could deadlock with a batch doing the same
    the other way round. Here the one lock taken is the broken study's."""
    reason = (
        f"paused by the service: {failure}. Fix the study's sampler options (or pick another "
        "sampler in a new study), then resume it"
    )
    with db.transaction() as session:
        study = lock_study(session, failure.study_id)
        if study.state is StudyState.RUNNING:
            pause_study(study, reason)
    metrics.inc(METRIC)
    log.error("study %s: %s", failure.study_id, reason, exc_info=failure.__cause__)
    return reason
