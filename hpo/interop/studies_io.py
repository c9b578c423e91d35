"""The export and import commands' work on a database: one study out to JSON or Optuna, a
JSON file or an Optuna study in. Each import is one transaction: all of it, or nothing.

Optuna and the service layer are imported only by the functions that need them: importing
Optuna's importance module loads scikit-learn, seconds of a JSON export's start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.errors import ValidationError
from hpo.interop.json_format import from_document, to_document
from hpo.interop.records import append_imported, read_study, store_study
from hpo.space import space_from_dict
from hpo.spec import parse_study_spec
from hpo.storage import Database, lock_study

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Imported:
    study_id: int
    trials: int
    created: bool  # a new study (--create, a JSON file), or trials added to one (--into)


def export_json(db: Database, study_id: int) -> dict[str, Any]:
    with db.transaction(write=False) as session:
        return to_document(read_study(session, study_id))


def import_json(db: Database, document: object) -> Imported:
    """A new study from a document of `hpo export json`, with its trials (numbers kept)."""
    record = from_document(document)
    with db.transaction() as session:
        study = store_study(session, record)
        return Imported(study.id, len(record.trials), created=True)


def export_optuna(db: Database, study_id: int, storage: str, name: str | None) -> optuna.Study:
    from hpo.interop.optuna_export import export_to_optuna

    with db.transaction(write=False) as session:
        record = read_study(session, study_id)
    return export_to_optuna(record, storage, name)


def import_optuna(
    db: Database,
    storage: str,
    study_name: str,
    *,
    into: int | None = None,
    create: Mapping[str, Any] | None = None,
) -> Imported:
    """The finished trials of an Optuna study, as imported trials of study `into`, or of a new
    study made from the spec `create` (its `space` defaults to the Optuna study's, mapped)."""
    from hpo.interop import optuna_import
    from hpo.service.studies import insert_study

    if (into is None) == (create is None):
        raise ValidationError("give one of --into STUDY or --create SPEC")
    source = optuna_import.load_optuna_study(storage, study_name)
    direction = optuna_import.study_direction(source)
    trials = optuna_import.finished_trials(source)
    mapped = optuna_import.space_of(trials)
    records = [optuna_import.trial_record(t) for t in trials]
    with db.transaction() as session:
        if create is None:
            study = lock_study(session, into or 0)
            created = False
        else:
            spec_data = dict(create)
            spec_data.setdefault("space", mapped)
            spec = parse_study_spec(spec_data)
            study = insert_study(session, spec)
            created = True
        if study.direction is not direction:
            raise ValidationError(
                f"the Optuna study {study_name!r} {direction}s but study {study.id} "
                f"{study.direction}s: their values cannot be compared"
            )
        n = append_imported(session, study, records, space=space_from_dict(study.spec["space"]))
        return Imported(study.id, n, created)
