"""The order in which a claim tries the claimable studies: fewest running trials first (so
concurrent studies share the workers), then, among equals, the studies of one comparison
together in the order of their fewest *started* trials (so a comparison's samplers progress
together and its live ranking compares like with like at every moment, even with one
worker), then the oldest first.

A study outside a comparison is its own group (keyed by its id), so unrelated studies keep
their oldest-first order; a comparison's group sits where its first study would. Both claim
statements (`lock_least_busy_study` and `claimable_study_ids`) use this one order.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from hpo.storage.models import Study, StudyState, Trial, TrialState


def claimable_studies_in_claim_order(*columns: Any) -> Select[Any]:
    """SELECT `columns` FROM studies: the running studies with a free parallel slot, in
    claim order (see the module's docstring)."""
    running = (
        select(Trial.study_id, func.count().label("n"))
        .where(Trial.state == TrialState.RUNNING)
        .group_by(Trial.study_id)
        .subquery("running")
    )
    # Counted for running comparison studies only: a standalone study never needs it, and
    # the trials of finished studies stay out of every claim's work.
    started = (
        select(Trial.study_id, func.count().label("n"))
        .join(Study, Study.id == Trial.study_id)
        .where(
            Study.comparison_id.is_not(None),
            Study.state == StudyState.RUNNING,
            Trial.state != TrialState.QUEUED,
        )
        .group_by(Trial.study_id)
        .subquery("started")
    )
    first_of_comparison = (
        select(Study.comparison_id, func.min(Study.id).label("first_id"))
        .where(Study.comparison_id.is_not(None))
        .group_by(Study.comparison_id)
        .subquery("comparison_first")
    )
    n_running: ColumnElement[int] = func.coalesce(running.c.n, 0)
    group: ColumnElement[int] = func.coalesce(first_of_comparison.c.first_id, Study.id)
    n_started: ColumnElement[int] = func.coalesce(started.c.n, 0)
    return (
        select(*columns)
        .select_from(Study)
        .outerjoin(running, running.c.study_id == Study.id)
        .outerjoin(started, started.c.study_id == Study.id)
        .outerjoin(first_of_comparison, first_of_comparison.c.comparison_id == Study.comparison_id)
        .where(Study.state == StudyState.RUNNING, n_running < Study.max_parallel)
        .order_by(n_running, group, n_started, Study.id)
    )
