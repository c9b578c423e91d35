"""The JSON format on real databases: export, import, export again equal (but for ids and
the export's time); an older schema version imports; a newer one is refused by version."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hpo.errors import ValidationError
from hpo.interop.json_format import SCHEMA_VERSION
from hpo.interop.studies_io import export_json, import_json
from hpo.service import Service
from hpo.storage import Database
from tests.integration.interop_studies import run_study

pytestmark = pytest.mark.integration


def _without_ids(document: dict[str, Any]) -> dict[str, Any]:
    study = {k: v for k, v in document["study"].items() if k != "id"}
    trials = [{k: v for k, v in t.items() if k != "id"} for t in document["trials"]]
    return {**document, "exported_at": None, "study": study, "trials": trials}


def test_json_round_trip_is_equal(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    source_id = run_study(service)
    document = json.loads(json.dumps(export_json(db, source_id)))  # through the text form
    assert document["schema_version"] == SCHEMA_VERSION
    assert {t["state"] for t in document["trials"]} == {"completed", "pruned", "failed"}

    done = import_json(db, document)
    assert done.study_id != source_id and done.trials == 12
    again = export_json(db, done.study_id)
    assert _without_ids(again) == _without_ids(document)
    assert service.studies.get(done.study_id).state == "completed"


def test_an_older_version_imports_and_a_newer_one_is_refused(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    document = export_json(db, run_study(service))
    version_1 = {**document, "schema_version": 1}
    version_1["trials"] = [
        {k: v for k, v in t.items() if k not in ("imported", "exactly_once")}
        for t in document["trials"]
    ]
    done = import_json(db, version_1)
    assert _without_ids(export_json(db, done.study_id)) == _without_ids(document)

    with pytest.raises(ValidationError, match=f"schema_version {SCHEMA_VERSION + 1} is newer"):
        import_json(db, {**document, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ValidationError, match=r"trials\.0\.state"):
        import_json(db, {**document, "trials": [{**document["trials"][0], "state": "odd"}]})
    outside = {**document["trials"][0], "params": {**document["trials"][0]["params"], "width": 999}}
    with pytest.raises(ValidationError, match=r"trial 0: invalid parameters: 'width'"):
        import_json(db, {**document, "trials": [outside]})
    with pytest.raises(ValidationError, match="not a file written by `hpo export json`"):
        import_json(db, {"format": "other"})
