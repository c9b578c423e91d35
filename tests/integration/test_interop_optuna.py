"""Optuna both ways on real databases: an hpo study exported into an Optuna storage of the
same backend (SQLite file, PostgreSQL database), read by Optuna itself (load_study, best
trial, importances, plots), and imported back equal on states, values, params and
intermediate values; imported trials outside the budget; refusals named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from hpo.errors import AlreadyExistsError, NotFoundError, ValidationError
from hpo.interop.records import read_study
from hpo.interop.studies_io import export_optuna, import_optuna
from hpo.service import Service
from hpo.storage import Database, TrialState
from tests.integration.conftest import PostgresDatabases
from tests.integration.interop_studies import SPACE, run_study, study_spec

pytestmark = pytest.mark.integration

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def optuna_storage(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty Optuna storage on the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("pg_databases")
    yield databases.url(databases.create())


def _outcomes(db: Database, study_id: int) -> list[tuple[Any, ...]]:
    with db.transaction(write=False) as session:
        record = read_study(session, study_id)
    return [(t.state, t.value, t.params, t.reports) for t in record.trials]


def test_round_trip_through_optuna(fresh_db: Database, optuna_storage: str) -> None:
    service = Service(fresh_db, prepare_suggestions=False)
    source_id = run_study(service)
    best = service.studies.get(source_id).best
    assert best is not None

    export_optuna(fresh_db, source_id, optuna_storage, "exported")

    study = optuna.load_study(study_name="exported", storage=optuna_storage)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) == 1
    assert optuna.trial.TrialState.FAIL in states
    assert study.best_trial.value == best.value
    assert study.best_trial.params == best.params
    assert study.best_trial.user_attrs["hpo_trial_id"] == best.id
    assert study.best_trial.user_attrs["hpo_metrics"]["val_accuracy"] == best.value
    failed = next(t for t in study.trials if t.state is optuna.trial.TrialState.FAIL)
    assert failed.user_attrs["hpo_failure_class"] == "oom"
    assert failed.user_attrs["hpo_failure_message"] == "out of memory"
    assert study.best_trial.intermediate_values == {0: 0.1, 1: 0.2, 2: 0.3}
    importances = optuna.importance.get_param_importances(study)
    assert set(importances) == set(SPACE)
    pytest.importorskip("plotly")
    assert optuna.visualization.plot_optimization_history(study).data
    assert optuna.visualization.plot_intermediate_values(study).data
    assert optuna.visualization.plot_param_importances(study).data

    # Back into hpo, as a new study whose space comes from Optuna's distributions.
    spec = {
        "name": "back",
        "task": {"model": "mlp", "dataset": "digits", "direction": "maximize"},
        "sampler": "tpe",
        "budget": {"n_trials": 2, "max_parallel": 1},
        "check_config": False,
    }
    imported = import_optuna(fresh_db, optuna_storage, "exported", create=spec)
    assert imported.created and imported.trials == 12
    assert _outcomes(fresh_db, imported.study_id) == _outcomes(fresh_db, source_id)
    view = service.studies.get(imported.study_id)
    assert view.spec["space"] == service.studies.get(source_id).spec["space"]
    assert view.imported_trials == 12
    assert view.best is not None and view.best.value == best.value

    # Imported trials are history, not budget: the 2 trials of the budget are still to run.
    assert service.studies.get(source_id).state == "completed"
    for _ in range(2):
        lease = service.dispatch.claim("w2")
        assert lease is not None and lease.study_id == imported.study_id
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)
    assert service.dispatch.claim("w2") is None
    assert service.studies.get(imported.study_id).state == "completed"


def test_import_into_a_study_and_its_refusals(fresh_db: Database, optuna_storage: str) -> None:
    service = Service(fresh_db, prepare_suggestions=False)
    source_id = run_study(service)
    export_optuna(fresh_db, source_id, optuna_storage, "exported")
    with pytest.raises(AlreadyExistsError, match="already has a study named 'exported'"):
        export_optuna(fresh_db, source_id, optuna_storage, "exported")

    again = import_optuna(fresh_db, optuna_storage, "exported", into=source_id)
    assert again.trials == 12 and not again.created
    with fresh_db.transaction(write=False) as session:
        record = read_study(session, source_id)
    assert [t.number for t in record.trials] == list(range(24))
    assert [t.imported for t in record.trials] == [False] * 12 + [True] * 12
    assert service.studies.get(source_id).state == "completed"  # its budget stays used

    # A study whose space the trials do not fit: refused, the parameter named, nothing kept.
    narrow = {**SPACE, "width": {"type": "int", "low": 8, "high": 9}}
    other = service.studies.create(study_spec(space=narrow, name="narrow"))
    with pytest.raises(ValidationError, match="'width'"):
        import_optuna(fresh_db, optuna_storage, "exported", into=other.id)
    assert service.studies.get(other.id).counts[str(TrialState.COMPLETED)] == 0

    # A dynamic Optuna space: a parameter only some trials have.
    dynamic = optuna.create_study(storage=optuna_storage, study_name="dynamic")
    dynamic.optimize(
        lambda t: t.suggest_float("x", 0, 1) + (t.suggest_int("extra", 1, 3) if t.number else 0),
        n_trials=3,
    )
    with pytest.raises(ValidationError, match="parameter 'extra' is set in 2 of 3 trials"):
        import_optuna(fresh_db, optuna_storage, "dynamic", into=other.id)
    with pytest.raises(NotFoundError, match="no Optuna study named 'missing'"):
        import_optuna(fresh_db, optuna_storage, "missing", into=other.id)
