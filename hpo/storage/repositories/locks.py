"""Every lock the storage takes, in one place: the study lock, the least busy claimable study,
a trial, a comparison, the queued and the expired trials that a claim or the reaper takes,
and the migration lock.

How each backend locks:
- PostgreSQL: row locks (`SELECT ... FOR [NO KEY] UPDATE`, with `SKIP LOCKED` where a caller
  should move on rather than wait), and an advisory lock for migrations.
- SQLite: a write transaction already holds the whole database (`BEGIN IMMEDIATE`, see
  `hpo.storage.transactions`), so these statements only read the rows there; the study locks
  refuse to run outside a write transaction, where they would lock nothing.

The claim order (`claimable_studies_in_claim_order`) is here too: the least busy study's lock
and the list of claimable studies (`claimable_study_ids`) that a claim walks when that lock is
taken elsewhere follow the same order. It is: fewest running trials first (so concurrent
studies share the workers), then, among equals, the studies of one comparison together in the
order of their fewest *started* trials (so a comparison's samplers progress together and its
live ranking compares like with like at every moment, even with one worker), then the oldest
first. A study outside a comparison is its own group (keyed by its id), so unrelated studies
keep their oldest-first order; a comparison's group sits where its first study would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, bindparam, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hpo.errors import NotFoundError
from hpo.pools import DEFAULT_POOL
from hpo.states import StudyState, TrialState
from hpo.storage.models import Comparison, Study, Trial
from hpo.storage.repositories.comparisons import comparison_not_found
from hpo.storage.transactions import write_connection

# What a claim accepts when it says nothing (a worker from before command trials).
BUILTIN_ONLY: tuple[str, ...] = ("builtin",)

# --- studies -----------------------------------------------------------------------------------


def lock_study(session: Session, study_id: int) -> Study:
    """Take the per-study write lock for the rest of the transaction and return the study.

    Everything that must not interleave for one study (numbering trials, asking the sampler,
    claiming grid points) runs after this call in the same transaction. PostgreSQL: a row lock
    on the study (`SELECT ... FOR NO KEY UPDATE`: it excludes other lockers and updates of
    the study, but not inserts of trials or reports that merely reference it). SQLite: the
    write transaction already holds the whole database (`BEGIN IMMEDIATE`), so this only loads
    the row. Raises `NotFoundError` if the study does not exist, and `StorageError` if called
    outside a write transaction on SQLite (where it would not lock anything).
    """
    write_connection(session)
    # populate_existing: if the study is already in the session, refresh it from the locked row.
    statement = (
        select(Study)
        .where(Study.id == study_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    study = session.scalars(statement).one_or_none()
    if study is None:
        raise NotFoundError(f"study {study_id} not found; list studies with GET /api/v1/studies")
    return study


def lock_study_snapshot(session: Session, study_id: int, *, skip_locked: bool) -> Study | None:
    """`lock_study` for the claim's hot path: the same lock, taken by a statement built once
    and run on the connection, and the row returned as a *transient* `Study` (not in the
    session: changing it saves nothing; load the study with `session.get` to change it). None
    when the study is gone or, with `skip_locked`, locked by another transaction (PostgreSQL
    `SKIP LOCKED`: a claimer then moves to the next study); without, the lock is waited for.
    Several times cheaper in CPU than loading the ORM object (measured:
    bench/dispatch_throughput.py)."""
    connection = write_connection(session)
    statement = _LOCK_SKIP_LOCKED if skip_locked else _LOCK_WAIT
    row = connection.execute(statement, {"sid": study_id}).one_or_none()
    return None if row is None else Study(**row._mapping)


def lock_least_busy_study(
    session: Session,
    *,
    skip_locked: bool,
    pools: Sequence[str] = (DEFAULT_POOL,),
    task_kinds: Sequence[str] = BUILTIN_ONLY,
) -> Study | None:
    """Lock and return the claimable study (running, with a free parallel slot, in one of
    `pools`, of one of `task_kinds`) first in claim order (see the module's docstring), in one
    statement: what a claim takes first. With
    `skip_locked`, studies locked by another transaction are passed over (the next in order is
    taken; None if all are locked); without, the first is waited for. Returned as
    `lock_study_snapshot` does.

    The running counts are those of the statement's snapshot, taken before any wait for the
    lock: the caller re-reads the study's active trials under the lock, and moves on to the
    other studies if this one turns out to have no room."""
    connection = write_connection(session)
    statement = _LEAST_BUSY_SKIP_LOCKED if skip_locked else _LEAST_BUSY_WAIT
    row = connection.execute(statement, _filters(pools, task_kinds)).one_or_none()
    return None if row is None else Study(**row._mapping)


def claimable_study_ids(
    session: Session,
    pools: Sequence[str] = (DEFAULT_POOL,),
    task_kinds: Sequence[str] = BUILTIN_ONLY,
) -> list[int]:
    """The ids of the claimable studies in `pools` and of `task_kinds`, in claim order,
    without locking any (a claim then locks, and so loads, only the one it takes:
    `lock_study_snapshot`). On every claim: a statement built once, run on the connection (no
    ORM work)."""
    bound = _filters(pools, task_kinds)
    return list(session.connection().execute(_CLAIMABLE_IDS, bound).scalars())


def _filters(pools: Sequence[str], task_kinds: Sequence[str]) -> dict[str, list[str]]:
    """The bound parameters of the claim-order statements: what the claiming worker serves."""
    return {"pools": list(pools), "kinds": list(task_kinds)}


def claimable_studies_in_claim_order(*columns: Any) -> Select[Any]:
    """SELECT `columns` FROM studies: the running studies with a free parallel slot whose pool
    is in the bound parameter `pools` and whose task kind is in `kinds` (both lists: what the
    claiming worker serves and runs), in claim order (see the module's docstring)."""
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
        .where(
            Study.state == StudyState.RUNNING,
            n_running < Study.max_parallel,
            Study.pool.in_(bindparam("pools", expanding=True)),
            Study.task_kind.in_(bindparam("kinds", expanding=True)),
        )
        .order_by(n_running, group, n_started, Study.id)
    )


_STUDIES = cast(Table, Study.__table__)


def _lock_by_id(*, skip_locked: bool) -> Select[Any]:
    return (
        select(*_STUDIES.c)
        .where(_STUDIES.c.id == bindparam("sid"))
        .with_for_update(key_share=True, skip_locked=skip_locked)
    )


def _least_busy_statement(*, skip_locked: bool) -> Select[Any]:
    return (
        claimable_studies_in_claim_order(*_STUDIES.c)
        .limit(1)
        # Only the study's row is locked (not the aggregates': PostgreSQL refuses that).
        .with_for_update(of=_STUDIES, key_share=True, skip_locked=skip_locked)
    )


# Built once, at import: these run on every claim.
_LOCK_WAIT = _lock_by_id(skip_locked=False)
_LOCK_SKIP_LOCKED = _lock_by_id(skip_locked=True)
_LEAST_BUSY_WAIT = _least_busy_statement(skip_locked=False)
_LEAST_BUSY_SKIP_LOCKED = _least_busy_statement(skip_locked=True)
_CLAIMABLE_IDS = claimable_studies_in_claim_order(Study.id)


# --- trials ------------------------------------------------------------------------------------


def lock_trial(session: Session, trial_id: int) -> Trial:
    """The trial, locked for update until the transaction ends (PostgreSQL row lock; SQLite's
    write transaction already excludes other writers). For report/heartbeat/complete, which
    check the lease token and then write: the check and the write must not interleave with
    another request's."""
    statement = (
        select(Trial)
        .where(Trial.id == trial_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    trial = session.scalars(statement).one_or_none()
    if trial is None:
        raise NotFoundError(f"trial {trial_id} not found; list a study's trials to find its ids")
    return trial


def next_queued_trial(session: Session, study_id: int) -> Trial | None:
    """The lowest-numbered queued trial of a study (enqueued configs, requeued trials), locked
    for update, or None. Under `lock_study` only one claimer gets it."""
    statement = (
        select(Trial)
        .where(Trial.study_id == study_id, Trial.state == TrialState.QUEUED)
        .order_by(Trial.number)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(statement).first()


def expired_leases(session: Session, now: datetime, *, limit: int = 100) -> list[Trial]:
    """Running trials whose lease expired before `now`, across studies, oldest expiry first.

    Rows are locked for the transaction and rows another transaction has locked are skipped
    (PostgreSQL `FOR UPDATE SKIP LOCKED`), so reapers in several API replicas never requeue
    the same trial twice, and a reaper never waits on a trial being completed right now.
    """
    statement = (
        select(Trial)
        .where(Trial.state == TrialState.RUNNING, Trial.lease_expires_at < now)
        .order_by(Trial.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(statement))


# --- comparisons -------------------------------------------------------------------------------


def lock_comparison(session: Session, comparison_id: int) -> Comparison:
    """The comparison, row-locked for the transaction on PostgreSQL (a write transaction on
    SQLite already holds the database), so concurrent final-result writes do not lose each
    other's entries in the `final` document."""
    statement = (
        select(Comparison)
        .where(Comparison.id == comparison_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    comparison = session.scalars(statement).one_or_none()
    if comparison is None:
        raise comparison_not_found(comparison_id)
    return comparison


# --- migrations --------------------------------------------------------------------------------

# Any constant works, as long as nothing else in the database uses it as an advisory lock key.
_PG_MIGRATION_LOCK_KEY = 0x4850_4F4D  # "HPOM"


def lock_for_migration(connection: Connection) -> None:
    """Serialize migrators for the rest of the connection's transaction. PostgreSQL: a
    transaction-level advisory lock (released at commit or rollback). SQLite: nothing to do
    here; the caller begins the transaction with `BEGIN IMMEDIATE` (`SQLITE_BEGIN`), which
    already holds the database."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK_KEY}
        )
