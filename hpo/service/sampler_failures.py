"""A study whose sampler fails at claim time is paused, so it never fails anyone else's claim.

A sampler is user configuration run inside the claim (its options, its space, its history):
an exception from it, left alone, would fail the claim's whole batch (other workers, other
studies) and do so again on every later claim, while the workers that got the error stop or
spin. So `SamplerCache` raises `SamplerFailed` for any exception from building or asking a
sampler (never for a database error: those keep their own meaning), and the dispatcher pauses
that study, with the reason in `studies.paused_reason` (the study view, the CLI and the page
show it), logs it, counts it (`hpo_sampler_failures_total`), and serves the claim from another
study. Resuming the study (after fixing what the reason says) tries its sampler again.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from hpo.service.metrics import Metrics
from hpo.service.studies import pause_study
from hpo.storage import StudyState
from hpo.storage import repositories as repo

log = logging.getLogger("hpo.service.sampler_failures")

METRIC = "hpo_sampler_failures_total"


class SamplerFailed(Exception):
    """Building or asking a study's sampler raised; the cause is chained."""

    def __init__(self, study_id: int, sampler: str, cause: BaseException) -> None:
        super().__init__(f"sampler {sampler!r} failed: {type(cause).__name__}: {cause}")
        self.study_id = study_id
        self.sampler = sampler


def pause_for_sampler_failure(session: Session, failure: SamplerFailed, metrics: Metrics) -> str:
    """Pause the failed study (locked by the claim that asked it) and say why; returns the
    reason. The pause commits with the claim's transaction."""
    reason = (
        f"paused by the service: {failure}. Fix the study's sampler options (or pick another "
        "sampler in a new study), then resume it"
    )
    study = repo.get_study(session, failure.study_id)
    if study.state is StudyState.RUNNING:
        pause_study(study, reason)
    metrics.inc(METRIC)
    log.error("study %s: %s", failure.study_id, reason, exc_info=failure.__cause__)
    return reason
