"""Copying studies between databases (`hpo db copy`): SQLite to PostgreSQL when a team grows,
or back, in either direction.

The source must be at this hpo's schema revision (it is not changed); the target is migrated
to it first. Then each unit is copied in one
transaction of the target: a study of no comparison alone, a comparison with all its studies
(they are created and deleted together, and its final results name their ids). Rows are copied
column by column (every column of the table, so columns added later travel too), with ids
remapped: a study's, a trial's, a comparison's new id in the target, and the references to
them (`Study.comparison_id`, `Trial.next_trial_id`, the study and trial ids in a comparison's
`final`). Before each commit, the copy is read back inside its transaction and checked: the
same number of trials and reports, and the same checksum of their values (`study_checksum`);
a mismatch rolls it back.

All or nothing: when a unit fails (or the copy is interrupted), the units this copy already
committed are deleted again, so the target is left as it was. A target that holds studies is
refused unless `append`. Workers are not copied (they announce themselves to the new server).
Artifacts: hpo has no artifact store yet, so there are none to copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session

from hpo.errors import ConflictError, NotFoundError, StorageError
from hpo.storage import Database, current_revision, head_revision, migrate
from hpo.storage.models import Comparison, Report, Study, Trial

_STUDIES = cast(Table, Study.__table__)
_TRIALS = cast(Table, Trial.__table__)
_REPORTS = cast(Table, Report.__table__)
_COMPARISONS = cast(Table, Comparison.__table__)


@dataclass(frozen=True)
class StudyCopy:
    source_id: int
    target_id: int
    trials: int
    reports: int
    checksum: str


@dataclass
class CopyReport:
    studies: list[StudyCopy] = field(default_factory=list)
    comparisons: dict[int, int] = field(default_factory=dict)  # source id -> target id


class CopyMismatch(StorageError):
    """The rows read back from the target differ from the source's."""


@dataclass(frozen=True)
class _Unit:
    comparison_id: int | None  # None: one standalone study
    study_ids: tuple[int, ...]


def study_checksum(session: Session, study_id: int) -> tuple[int, int, str]:
    """(trials, reports, sha256) of a study's values: per trial by number its state, value,
    params, metrics and imported flag, and every report (number, step, value). Ids are not
    in it, so a copy with new ids has the same checksum."""
    digest = hashlib.sha256()
    trials = session.execute(
        select(
            Trial.id,
            Trial.number,
            Trial.state,
            Trial.value,
            Trial.params_hash,
            Trial.metrics,
            Trial.imported,
        )
        .where(Trial.study_id == study_id)
        .order_by(Trial.number)
    ).all()
    numbers = {t.id: t.number for t in trials}
    for t in trials:
        row = [t.number, str(t.state), _float(t.value), t.params_hash, t.metrics, t.imported]
        digest.update(json.dumps(row, sort_keys=True).encode())
    reports = session.execute(
        select(Report.trial_id, Report.step, Report.value).where(Report.study_id == study_id)
    ).all()
    for number, step, value in sorted((numbers[r.trial_id], r.step, r.value) for r in reports):
        digest.update(json.dumps([number, step, _float(value)]).encode())
    return len(trials), len(reports), digest.hexdigest()


def _float(value: float | None) -> str | None:
    return None if value is None else float(value).hex()  # exact, whatever the backend


def copy_studies(
    source: Database,
    target: Database,
    *,
    study_ids: Sequence[int] = (),
    append: bool = False,
    after_unit: Callable[[Session], None] | None = None,
) -> CopyReport:
    """Copy `study_ids` (default: every study and comparison) from `source` to `target`.

    `after_unit` runs inside each unit's target transaction after its rows are written (a
    test makes it raise to interrupt the copy)."""
    _check_source_revision(source)
    migrate(target.engine)
    with source.transaction(write=False) as session:
        units = _units(session, study_ids)
    with target.transaction(write=False) as session:
        held = session.scalar(select(func.count()).select_from(_STUDIES)) or 0
        held += session.scalar(select(func.count()).select_from(_COMPARISONS)) or 0
    if held and not append:
        raise ConflictError(
            f"the target database already holds {held} studies and comparisons: copy into an "
            "empty database, or pass --append to add these to them"
        )
    report = CopyReport()
    try:
        for unit in units:
            with source.transaction(write=False) as src, target.transaction() as dst:
                copies, comparison = _copy_unit(src, dst, unit)
                if after_unit is not None:
                    after_unit(dst)
            report.studies.extend(copies)  # committed: what an undo deletes
            if comparison is not None:
                report.comparisons[comparison[0]] = comparison[1]
    except BaseException:
        _undo(target, report)
        raise
    return report


def _check_source_revision(source: Database) -> None:
    """The rows are copied with this hpo's columns: a source of another schema revision
    is refused (never migrated here: a copy does not change its source)."""
    at, head = current_revision(source.engine), head_revision()
    if at != head:
        raise ConflictError(
            f"the source database is at schema revision {at}, this hpo's is {head}: upgrade "
            "it first (`hpo migrate --database-url SOURCE`), or copy with the hpo that wrote it"
        )


def _units(session: Session, study_ids: Sequence[int]) -> list[_Unit]:
    if study_ids:
        wanted = list(dict.fromkeys(study_ids))
        rows = session.execute(select(Study.id, Study.comparison_id).where(Study.id.in_(wanted)))
        found = {int(study_id): comparison_id for study_id, comparison_id in rows}
        missing = [i for i in wanted if i not in found]
        if missing:
            raise NotFoundError(
                f"the source database has no study {', '.join(map(str, missing))}: "
                "list them with `hpo study list`"
            )
        # A comparison's studies travel together: its view and its final results need them.
        comparisons = sorted({c for c in found.values() if c is not None})
    else:
        comparisons = list(session.scalars(select(Comparison.id).order_by(Comparison.id)))
        wanted = list(session.scalars(select(Study.id).order_by(Study.id)))
    units = []
    for comparison_id in comparisons:
        members = session.scalars(
            select(Study.id).where(Study.comparison_id == comparison_id).order_by(Study.id)
        )
        units.append(_Unit(comparison_id, tuple(members)))
    in_comparisons = {i for u in units for i in u.study_ids}
    standalone = [i for i in wanted if i not in in_comparisons]
    found_comparisons = set(session.scalars(select(Comparison.id)))
    units += [_Unit(None, (i,)) for i in standalone]
    # A study whose comparison row is gone is copied alone, its comparison_id dropped.
    return [u for u in units if u.comparison_id is None or u.comparison_id in found_comparisons]


def _copy_unit(
    src: Session, dst: Session, unit: _Unit
) -> tuple[list[StudyCopy], tuple[int, int] | None]:
    """Write one unit into `dst`; its study copies, and (source, target) comparison ids."""
    new_comparison: int | None = None
    comparison_row: dict[str, Any] | None = None
    if unit.comparison_id is not None:
        comparison_row = dict(
            src.execute(select(_COMPARISONS).where(_COMPARISONS.c.id == unit.comparison_id))
            .mappings()
            .one()
        )
        new_comparison = _insert_one(dst, _COMPARISONS, _without_id(comparison_row))
    copies: list[StudyCopy] = []
    trial_ids: dict[int, int] = {}
    for study_id in unit.study_ids:
        copy, mapped = _copy_study(src, dst, study_id, new_comparison)
        copies.append(copy)
        trial_ids.update(mapped)
    if comparison_row is not None and new_comparison is not None:
        study_map = {c.source_id: c.target_id for c in copies}
        final = _remap_final(comparison_row.get("final") or {}, study_map, trial_ids)
        dst.execute(
            _COMPARISONS.update().where(_COMPARISONS.c.id == new_comparison).values(final=final)
        )
    if unit.comparison_id is not None and new_comparison is not None:
        return copies, (unit.comparison_id, new_comparison)
    return copies, None


def _copy_study(
    src: Session, dst: Session, study_id: int, comparison_id: int | None
) -> tuple[StudyCopy, dict[int, int]]:
    study = dict(src.execute(select(_STUDIES).where(_STUDIES.c.id == study_id)).mappings().one())
    values = _without_id(study)
    values["comparison_id"] = comparison_id
    token = values.get("client_token_hash")
    if token is not None and dst.scalar(
        select(func.count()).where(_STUDIES.c.client_token_hash == token)
    ):
        values["client_token_hash"] = None  # already copied once (--append): one holder only
    new_id = _insert_one(dst, _STUDIES, values)
    trials = [
        dict(r)
        for r in src.execute(
            select(_TRIALS).where(_TRIALS.c.study_id == study_id).order_by(_TRIALS.c.id)
        ).mappings()
    ]
    old_ids = [t["id"] for t in trials]
    rows = [{**_without_id(t), "study_id": new_id, "next_trial_id": None} for t in trials]
    new_ids = _insert_many(dst, _TRIALS, rows)
    trial_ids = dict(zip(old_ids, new_ids, strict=True))
    for trial in trials:
        nxt = trial.get("next_trial_id")
        if nxt in trial_ids:  # a lease handed out within the study (elsewhere: dropped)
            dst.execute(
                _TRIALS.update()
                .where(_TRIALS.c.id == trial_ids[trial["id"]])
                .values(next_trial_id=trial_ids[nxt])
            )
    reports = [
        {**_without_id(dict(r)), "study_id": new_id, "trial_id": trial_ids[r["trial_id"]]}
        for r in src.execute(select(_REPORTS).where(_REPORTS.c.study_id == study_id)).mappings()
    ]
    _insert_many(dst, _REPORTS, reports)
    expected = study_checksum(src, study_id)
    dst.flush()
    got = study_checksum(dst, new_id)
    if got != expected:
        raise CopyMismatch(
            f"study {study_id}: the copy reads back {got[0]} trials, {got[1]} reports "
            f"(checksum {got[2][:12]}) but the source has {expected[0]}, {expected[1]} "
            f"({expected[2][:12]}); nothing of it was kept"
        )
    return StudyCopy(study_id, new_id, expected[0], expected[1], expected[2]), trial_ids


def _remap_final(
    final: Mapping[str, Any], studies: Mapping[int, int], trials: Mapping[int, int]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sampler, record in final.items():
        if isinstance(record, Mapping):
            record = dict(record)
            if record.get("study_id") in studies:
                record["study_id"] = studies[record["study_id"]]
            if record.get("trial_id") in trials:
                record["trial_id"] = trials[record["trial_id"]]
        out[sampler] = record
    return out


def _without_id(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _insert_one(session: Session, table: Table, values: Mapping[str, Any]) -> int:
    return int(
        session.execute(insert(table).values(dict(values)).returning(table.c.id)).scalar_one()
    )


def _insert_many(session: Session, table: Table, rows: Iterable[Mapping[str, Any]]) -> list[int]:
    batch = [dict(r) for r in rows]
    if not batch:
        return []
    result = session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), batch
    )
    return [int(i) for i in result.scalars()]


def _undo(target: Database, report: CopyReport) -> None:
    """Delete what this copy committed (trials and reports go with their study)."""
    if not report.studies and not report.comparisons:
        return
    with target.transaction() as session:
        study_ids = [c.target_id for c in report.studies]
        session.execute(delete(_REPORTS).where(_REPORTS.c.study_id.in_(study_ids)))
        session.execute(delete(_TRIALS).where(_TRIALS.c.study_id.in_(study_ids)))
        session.execute(delete(_STUDIES).where(_STUDIES.c.id.in_(study_ids)))
        comparison_ids = list(report.comparisons.values())
        session.execute(delete(_COMPARISONS).where(_COMPARISONS.c.id.in_(comparison_ids)))
