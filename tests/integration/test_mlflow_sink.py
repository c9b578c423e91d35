"""The MLflow sink on SQLite and PostgreSQL, read back through MLflow's own client from a
local `file:` tracking store: every finished trial one run (params, per-step metric, final
metrics, status, tags), a comparison's studies child runs of one parent, and a tracking store
that is down then back: trials keep completing, nothing is lost, nothing is logged twice,
and a restarted sink picks up the backlog from the database."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("mlflow", reason="the mlflow extra (mlflow-skinny) is not installed")

from mlflow.tracking import MlflowClient

from api.app import create_app
from hpo.comparison_spec import parse_comparison_spec
from hpo.service import Service
from hpo.service.tracking import TrackingSink
from hpo.service.tracking.mlflow_writer import MlflowWriter
from hpo.settings import Settings
from hpo.storage import Database
from tests.integration.test_budgets import spec
from tests.integration.test_service import Clock

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _file_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow 3 refuses its file store unless asked for it (what `hpo serve` does for file:).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db: Database, clock: Clock) -> Service:
    return Service(
        db, prepare_suggestions=False, lease_seconds=10_000, clock=clock, track_finished_trials=True
    )


def sink_for(service: Service, uri: str, clock: Clock) -> TrackingSink:
    return TrackingSink(service.db, MlflowWriter(uri), service.metrics, clock=clock)


def runs_of(uri: str, experiment: str) -> list[Any]:
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    return list(client.search_runs([found.experiment_id], max_results=1000))


def backlog(service: Service) -> float:
    for line in service.metrics_text().splitlines():
        if line.startswith("hpo_tracking_backlog "):
            return float(line.split()[1])
    raise AssertionError("no hpo_tracking_backlog on /metrics")


def test_every_finished_trial_is_one_mlflow_run(
    service: Service, clock: Clock, tmp_path: Path
) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    study = service.studies.create(spec(n_trials=3, max_parallel=3))
    done, failed, cancelled = (service.dispatch.claim(f"w{i}") for i in range(3))
    assert done is not None and failed is not None and cancelled is not None
    for step, value in enumerate((0.5, 0.6, 0.7)):
        service.dispatch.report(done.trial_id, done.lease_token, step, value)
    clock.advance(12)
    service.dispatch.complete(done.trial_id, done.lease_token, 0.75, {"val_loss": 0.4})
    service.dispatch.fail(failed.trial_id, failed.lease_token, "oom", "CUDA out of memory")
    service.notes.annotate(done.trial_id, note="the good one", tags=["baseline"], set_note=True)
    service.studies.update(study.id, action="cancel")
    assert backlog(service) == 3
    assert sink_for(service, uri, clock).drain() == 3
    assert backlog(service) == 0
    runs = {r.data.tags["hpo.trial_number"]: r for r in runs_of(uri, f"budgets (study {study.id})")}
    assert sorted(runs) == ["0", "1", "2"]
    good = runs["0"]
    assert good.info.status == "FINISHED" and good.info.run_name == "trial 0"
    assert good.data.params["lr"] == str(done.params["lr"])
    assert good.data.metrics["value"] == 0.75 and good.data.metrics["final/val_loss"] == 0.4
    history = MlflowClient(uri).get_metric_history(good.info.run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.6), (2, 0.7)]
    assert good.data.tags["hpo.study_id"] == str(study.id)
    assert good.data.tags["hpo.trial_id"] == str(done.trial_id)
    assert good.data.tags["hpo.sampler"] == "random"
    assert good.data.tags["hpo.state"] == "completed"
    assert (good.info.end_time - good.info.start_time) == 12_000
    assert runs["1"].info.status == "FAILED"
    assert runs["1"].data.tags["hpo.failure_class"] == "oom"
    assert runs["2"].data.tags["hpo.failure_class"] == "cancelled"


def test_a_comparisons_studies_are_child_runs_of_one_parent(
    service: Service, clock: Clock, tmp_path: Path
) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    comparison = service.comparisons.create(
        parse_comparison_spec(
            {
                "name": "cmp",
                "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
                "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
                "samplers": ["random", "tpe"],
                "n_trials": 2,
                "repeats": 1,
                "check_config": False,
            }
        )
    )
    while (lease := service.dispatch.claim("w")) is not None:
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)
    assert sink_for(service, uri, clock).drain() == 4
    runs = runs_of(uri, f"cmp (comparison {comparison.id})")
    parents = [r for r in runs if "hpo.comparison_id" in r.data.tags]
    studies = [r for r in runs if "hpo.seed" in r.data.tags]
    trials = [r for r in runs if "hpo.trial_id" in r.data.tags]
    assert len(parents) == 1 and len(studies) == 2 and len(trials) == 4
    parent_id = parents[0].info.run_id
    assert {r.data.tags["mlflow.parentRunId"] for r in studies} == {parent_id}
    study_runs = {r.info.run_id: r.data.tags["hpo.study_id"] for r in studies}
    for trial in trials:  # each trial under its own study's run
        assert study_runs[trial.data.tags["mlflow.parentRunId"]] == trial.data.tags["hpo.study_id"]


def test_the_store_down_then_back_loses_nothing_and_blocks_nothing(
    service: Service, clock: Clock, tmp_path: Path
) -> None:
    # A tracking store that cannot be written: its folder's parent is a file.
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    uri = f"file:{blocker / 'mlruns'}"
    study = service.studies.create(spec(n_trials=6, max_parallel=1))
    sink = sink_for(service, uri, clock)
    for _ in range(3):
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)  # not blocked
        assert sink.drain() == 0
        clock.advance(1)
    assert backlog(service) == 3
    assert service.metrics.counter("hpo_tracking_errors_total") >= 3
    assert service.studies.get(study.id).counts["completed"] == 3
    # Back up; a new sink (a restarted server) finds the backlog in the database, after the
    # backoff.
    blocker.unlink()
    restarted = sink_for(service, uri, clock)
    for _ in range(3):
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.6)
    clock.advance(120)
    assert restarted.drain() == 6
    assert backlog(service) == 0
    runs = runs_of(uri, f"budgets (study {study.id})")
    numbers = sorted(int(r.data.tags["hpo.trial_number"]) for r in runs)
    assert numbers == [0, 1, 2, 3, 4, 5]  # each once


def test_a_half_logged_run_is_made_again_not_twice(
    service: Service, clock: Clock, tmp_path: Path
) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    study = service.studies.create(spec(n_trials=1, max_parallel=1))
    lease = service.dispatch.claim("w")
    assert lease is not None
    service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)

    class FailsOnce(MlflowWriter):
        failed = False

        def fill_trial_run(self, run_id: str, record: Any) -> None:
            if not FailsOnce.failed:
                FailsOnce.failed = True
                raise ConnectionError("tracking server went away mid-run")
            super().fill_trial_run(run_id, record)

    flaky = FailsOnce(uri)
    sink = TrackingSink(service.db, flaky, service.metrics, clock=clock)
    assert sink.drain() == 0
    clock.advance(120)
    assert sink.drain() == 1
    live = runs_of(uri, f"budgets (study {study.id})")
    assert len(live) == 1 and live[0].data.metrics["value"] == 0.5


def test_the_server_runs_the_sink_when_given_a_tracking_uri(tmp_path: Path) -> None:
    uri = f"file:{tmp_path / 'mlruns'}"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hpo.db'}",
        mlflow_tracking_uri=uri,
        mlflow_poll_seconds=0.05,
    )
    with TestClient(create_app(settings)) as client:
        study = client.post("/api/v1/studies", json=spec(n_trials=1).to_dict()).json()
        lease = client.post("/api/v1/workers/claim", json={"worker_id": "w"}).json()
        client.post(
            f"/api/v1/trials/{lease['trial_id']}/complete",
            json={"lease_token": lease["lease_token"], "value": 0.5},
        )
        deadline = time.monotonic() + 30
        while "hpo_tracking_backlog 0" not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "the sink logged nothing in 30 s"
            time.sleep(0.05)
    (run,) = runs_of(uri, f"budgets (study {study['id']})")
    assert run.data.tags["hpo.trial_id"] == str(lease["trial_id"])
