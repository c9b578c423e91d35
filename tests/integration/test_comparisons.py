"""Comparisons on real databases (SQLite and PostgreSQL): studies per sampler x seed, curves
and ranking from scripted trial values and durations (checked by hand below), life cycle,
final results, and the REST API's answers to bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.comparison_spec import parse_comparison_spec
from hpo.errors import ConflictError, NotFoundError, ValidationError
from hpo.service import ComparisonView, FinalResult, Service
from hpo.settings import Settings
from hpo.storage import Database

pytestmark = pytest.mark.integration

GRIDDABLE = {
    "a": {"type": "int", "low": 0, "high": 7},
    "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True, "grid_points": 3},
}
COMPARISON: dict[str, Any] = {
    "name": "cmp",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2, "metric": "val_accuracy"},
    "space": GRIDDABLE,
    "fixed": {"optimizer": "adam"},
    "samplers": ["random", {"name": "grid", "options": {"shuffle": False}}],
    "n_trials": 3,
    "repeats": 3,
    "seed": 10,
    "check_config": False,  # its params are not the trainers' (no trainer runs them)
}
# Per sampler and seed: the trials in the order they finish, (value or None for a diverged
# trial, training seconds).
SCRIPT: dict[str, list[list[tuple[float | None, float]]]] = {
    "random": [
        [(0.5, 10), (0.7, 20), (0.6, 5)],
        [(0.4, 10), (0.3, 10), (0.8, 10)],
        [(None, 5), (0.6, 5), (0.65, 5)],
    ],
    "grid": [
        [(0.6, 1), (0.1, 1), (0.1, 1)],
        [(0.5, 1), (0.2, 1), (0.2, 1)],
        [(0.55, 1), (0.3, 1), (0.3, 1)],
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def run_script(service: Service, clock: Clock, view: ComparisonView) -> None:
    """Evaluate every study's trials one at a time, taking the scripted training time."""
    for sampler, seeds in SCRIPT.items():
        studies = [s for s in view.studies if s.sampler == sampler]
        assert [s.seed for s in studies] == [10, 11, 12]
        for study, trials in zip(studies, seeds, strict=True):
            for value, seconds in trials:
                lease = service.dispatch.ask(study.id)
                clock.now += timedelta(seconds=seconds)
                if value is None:
                    service.dispatch.fail(lease.trial_id, lease.lease_token, "diverged", "nan")
                else:
                    service.dispatch.complete(lease.trial_id, lease.lease_token, value)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db: Database, clock: Clock) -> Service:
    return Service(db, prepare_suggestions=False, clock=clock)


def approx(values: list[float | None]) -> list[Any]:
    return [None if v is None else pytest.approx(v) for v in values]


def test_create_makes_one_study_per_sampler_and_seed(service: Service) -> None:
    view = service.comparisons.create(parse_comparison_spec(COMPARISON))
    assert view.state == "running" and view.samplers == ["random", "grid"]
    assert view.direction == "maximize" and view.objective == "val_accuracy"
    assert [(s.sampler, s.seed) for s in view.studies] == [
        ("random", 10), ("random", 11), ("random", 12), ("grid", 10), ("grid", 11), ("grid", 12)
    ]  # fmt: skip
    studies = service.studies.list_studies(comparison_id=view.id)
    assert len(studies) == 6 and {s.comparison_id for s in studies} == {view.id}
    for study in studies:
        assert study.n_trials == 3 and study.spec["fixed"] == {"optimizer": "adam"}
        assert study.spec["task"]["epochs"] == 2 and study.spec["space"]["a"]["high"] == 7
    grid = next(s for s in studies if s.sampler == "grid")
    assert grid.spec["sampler"] == {"name": "grid", "options": {"shuffle": False}}
    assert view.n_total == 18 and view.n_finished == 0
    # No data yet: every curve value is null, every sampler shares the last rank.
    assert view.curves["random"].by_trial.x == [1, 2, 3]
    assert view.curves["random"].by_trial.median == [None, None, None]
    assert view.curves["grid"].by_time.x == []
    assert [(r.sampler, r.rank, r.median_best) for r in view.results] == [
        ("random", 1, None), ("grid", 1, None)
    ]  # fmt: skip


def test_curves_and_ranking_from_scripted_trials(service: Service, clock: Clock) -> None:
    view = service.comparisons.create(parse_comparison_spec(COMPARISON))
    run_script(service, clock, view)
    view = service.comparisons.get(view.id)
    assert view.state == "completed" and view.n_finished == 18

    # random, best so far per seed: [.5 .7 .7], [.4 .4 .8], [- .6 .65] (the first diverged)
    by_trial = view.curves["random"].by_trial
    assert by_trial.x == [1, 2, 3]
    assert by_trial.median == approx([0.45, 0.6, 0.7])
    assert by_trial.q25 == approx([0.425, 0.5, 0.675])
    assert by_trial.q75 == approx([0.475, 0.65, 0.75])
    # Training seconds spent: seed 10 at 10, 30, 35; seed 11 at 10, 20, 30; seed 12 at 5,
    # 10, 15. At 5 s only seed 12 has finished a trial, and it diverged: no value yet.
    by_time = view.curves["random"].by_time
    assert by_time.x == [5, 10, 15, 20, 30, 35]
    assert by_time.median == approx([None, 0.5, 0.5, 0.5, 0.7, 0.7])
    assert by_time.q25 == approx([None, 0.45, 0.45, 0.45, 0.675, 0.675])
    assert by_time.q75 == approx([None, 0.55, 0.575, 0.575, 0.75, 0.75])

    # grid's bests are its first trials: .6, .5, .55 -> median .55, below random's .7
    assert view.curves["grid"].by_trial.median == approx([0.55, 0.55, 0.55])
    random, grid = view.results
    assert (random.sampler, random.rank, grid.sampler, grid.rank) == ("random", 1, "grid", 2)
    assert random.best_values == approx([0.7, 0.8, 0.65])
    assert [random.median_best, random.q25_best, random.q75_best] == approx([0.7, 0.675, 0.75])
    assert grid.best_values == approx([0.6, 0.5, 0.55]) and grid.n_finished == 9
    assert random.test_metric is None and random.test_metric_sd is None
    studies = {(s.sampler, s.seed): s for s in view.studies}
    assert studies["random", 12].best_value == pytest.approx(0.65)
    assert studies["random", 12].n_finished == 3 and studies["random", 12].state == "completed"


def test_minimize_ranks_the_lowest_first(service: Service, clock: Clock) -> None:
    spec = parse_comparison_spec({**COMPARISON, "direction": "minimize", "repeats": 1})
    view = service.comparisons.create(spec)
    assert view.direction == "minimize"
    assert {s.direction for s in service.studies.list_studies(comparison_id=view.id)} == {
        "minimize"
    }
    for study, values in zip(view.studies, ([3.0, 1.0, 2.0], [0.5, 4.0, 4.0]), strict=True):
        for value in values:
            lease = service.dispatch.ask(study.id)
            service.dispatch.complete(lease.trial_id, lease.lease_token, value)
    view = service.comparisons.get(view.id)
    assert view.curves["random"].by_trial.median == approx([3.0, 1.0, 1.0])
    assert [(r.sampler, r.rank, r.median_best) for r in view.results] == [
        ("grid", 1, pytest.approx(0.5)), ("random", 2, pytest.approx(1.0))
    ]  # fmt: skip


def test_running_seeds_have_no_data_past_their_last_finish(service: Service) -> None:
    view = service.comparisons.create(parse_comparison_spec({**COMPARISON, "repeats": 2}))
    first, second = view.studies[0], view.studies[1]
    for value in (0.5, 0.9):
        lease = service.dispatch.ask(first.id)
        service.dispatch.complete(lease.trial_id, lease.lease_token, value)
    lease = service.dispatch.ask(second.id)
    service.dispatch.complete(lease.trial_id, lease.lease_token, 0.7)
    view = service.comparisons.get(view.id)
    # trial 1: both seeds (.5, .7); trial 2: the first seed only; trial 3: nobody yet
    assert view.curves["random"].by_trial.median == approx([0.6, 0.9, None])
    assert view.results[0].best_values == approx([0.9, 0.7])
    assert view.n_finished == 3 and view.state == "running"


def test_a_raised_study_budget_shows_in_the_comparison(service: Service) -> None:
    view = service.comparisons.create(parse_comparison_spec({**COMPARISON, "repeats": 1}))
    for study in view.studies:
        service.studies.update(study.id, n_trials=5)
    raised = service.comparisons.get(view.id)
    assert raised.n_trials == 5 and raised.n_total == 10
    assert raised.curves["random"].by_trial.x == [1, 2, 3, 4, 5]
    assert [c.n_trials for c in service.comparisons.list_comparisons()] == [5]


def test_pause_resume_cancel_and_delete(service: Service) -> None:
    view = service.comparisons.create(parse_comparison_spec({**COMPARISON, "repeats": 1}))
    running = service.dispatch.ask(view.studies[0].id)
    assert service.comparisons.update(view.id, "pause").state == "paused"
    assert {s.state for s in service.studies.list_studies(comparison_id=view.id)} == {"paused"}
    with pytest.raises(ConflictError, match="none of its studies can pause"):
        service.comparisons.update(view.id, "pause")
    assert service.comparisons.update(view.id, "resume").state == "running"
    cancelled = service.comparisons.update(view.id, "cancel")
    assert cancelled.state == "cancelled"
    assert {s.state for s in cancelled.studies} == {"cancelled"}
    # The trial running when the comparison was cancelled spent nothing: it is not a point.
    assert cancelled.curves["random"].by_trial.median == [None, None, None]
    trial = service.studies.trials(view.studies[0].id)[0][0]
    assert trial.id == running.trial_id and trial.failure_class == "cancelled"
    with pytest.raises(ConflictError, match="is cancelled"):
        service.comparisons.update(view.id, "resume")

    other = service.comparisons.create(parse_comparison_spec({**COMPARISON, "repeats": 1}))
    service.comparisons.delete(view.id)
    with pytest.raises(NotFoundError, match=f"comparison {view.id} not found"):
        service.comparisons.get(view.id)
    assert service.studies.list_studies(comparison_id=view.id) == []
    assert len(service.studies.list_studies(comparison_id=other.id)) == 2  # untouched
    with pytest.raises(NotFoundError):
        service.comparisons.delete(view.id)


def test_record_final_results(service: Service) -> None:
    view = service.comparisons.create(parse_comparison_spec({**COMPARISON, "repeats": 1}))
    result = FinalResult(test_metric=0.91, test_metric_sd=0.01, seeds=(0, 1), study_id=1)
    service.comparisons.record_final(view.id, "grid", result)
    view = service.comparisons.record_final(view.id, "random", FinalResult(test_metric=0.8))
    results = {r.sampler: r for r in view.results}
    assert results["grid"].test_metric == pytest.approx(0.91)
    assert results["grid"].test_metric_sd == pytest.approx(0.01)
    assert results["grid"].final is not None and results["grid"].final["seeds"] == [0, 1]
    assert results["random"].test_metric == pytest.approx(0.8)
    assert results["random"].test_metric_sd is None
    with pytest.raises(ValidationError, match="no sampler 'tpe': use one of random, grid"):
        service.comparisons.record_final(view.id, "tpe", result)


def test_a_study_that_cannot_be_created_creates_nothing(service: Service) -> None:
    space = {**GRIDDABLE, "x": {"type": "float", "low": 0.0, "high": 1.0}}
    with pytest.raises(ValidationError, match=r"sampler grid: .*continuous float"):
        parse_comparison_spec({**COMPARISON, "space": space})
    spec = parse_comparison_spec(
        {**COMPARISON, "pruner": {"name": "asha", "options": {"eta": 3}}}
    )  # pruner options are checked by the service, as for a study
    with pytest.raises(ValidationError):
        service.comparisons.create(spec)
    assert service.comparisons.list_comparisons() == []
    assert service.studies.list_studies() == []


# -- the REST API --------------------------------------------------------------------------

ADMIN = "admin-secret"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, api_token=ADMIN)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        yield c


BAD_COMPARISONS = [
    ({**COMPARISON, "samplers": []}, 422, "samplers"),
    ({**COMPARISON, "samplers": ["random", "annealing"]}, 422, "unknown sampler 'annealing'"),
    ({**COMPARISON, "samplers": ["tpe", "tpe"]}, 422, "more than once"),
    ({**COMPARISON, "n_trials": 0}, 422, "n_trials"),
    ({**COMPARISON, "repeats": 0}, 422, "repeats"),
    ({**COMPARISON, "repeats": 51}, 422, "repeats"),
    ({**COMPARISON, "samplers": ["random", "tpe"], "repeats": 50, "n_trials": 1}, 201, ""),
    ({**COMPARISON, "samplers": ["random"] * 1, "reps": 3}, 422, "unknown field"),
    ({k: v for k, v in COMPARISON.items() if k != "n_trials"}, 422, "n_trials"),
    ({**COMPARISON, "task": {"model": "rnn", "dataset": "digits"}}, 422, "task.model"),
    ({**COMPARISON, "fixed": {"a": 1}}, 400, "both searched"),
    ({**COMPARISON, "space": {"x": {"type": "float", "low": 0, "high": 1}}}, 400, "grid"),
    ({**COMPARISON, "pruner": {"name": "asha", "options": {"eta": 3}}}, 400, "option"),
]


def test_bad_comparisons_answer_4xx_with_a_message_and_create_nothing(
    client: TestClient,
) -> None:
    created = 0
    for body, status, needle in BAD_COMPARISONS:
        response = client.post("/api/v1/comparisons", json=body, headers=AUTH)
        assert response.status_code == status, (needle, response.text)
        if status == 201:
            created += 1
            continue
        assert needle.lower() in response.json()["detail"].lower(), (needle, response.text)
    assert len(client.get("/api/v1/comparisons", headers=AUTH).json()) == created
    assert (
        len(client.get("/api/v1/studies", params={"limit": 1000}, headers=AUTH).json())
        == 100 * created
    )


def test_comparison_routes(client: TestClient) -> None:
    assert client.post("/api/v1/comparisons", json=COMPARISON).status_code == 401
    response = client.post("/api/v1/comparisons", json=COMPARISON, headers=AUTH)
    assert response.status_code == 201, response.text
    view = response.json()
    cid = view["id"]
    assert view["state"] == "running" and view["samplers"] == ["random", "grid"]
    assert set(view["curves"]["grid"]) == {"by_trial", "by_time"}
    assert set(view["curves"]["grid"]["by_time"]) == {"x", "median", "q25", "q75"}
    assert [r["sampler"] for r in view["results"]] == ["random", "grid"]
    assert set(view["results"][0]) >= {
        "sampler", "rank", "median_best", "q25_best", "q75_best", "best_values",
        "n_finished", "test_metric", "test_metric_sd",
    }  # fmt: skip
    study_id = view["studies"][0]["id"]
    assert client.get(f"/api/v1/studies/{study_id}", headers=AUTH).json()["comparison_id"] == cid

    [row] = client.get("/api/v1/comparisons", headers=AUTH).json()
    assert row == {
        "id": cid, "name": "cmp", "state": "running", "samplers": ["random", "grid"],
        "n_trials": 3, "repeats": 3, "created_at": row["created_at"], "n_finished": 0,
        "n_total": 18,
    }  # fmt: skip

    paused = client.patch(f"/api/v1/comparisons/{cid}", json={"action": "pause"}, headers=AUTH)
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    again = client.patch(f"/api/v1/comparisons/{cid}", json={"action": "pause"}, headers=AUTH)
    assert again.status_code == 409 and "paused" in again.json()["detail"]
    bad = client.patch(f"/api/v1/comparisons/{cid}", json={"action": "stop"}, headers=AUTH)
    assert bad.status_code == 422 and "action" in bad.json()["detail"]

    final = {"test_metric": 0.93, "test_metric_sd": 0.004, "seeds": [0, 1, 2]}
    put = client.put(f"/api/v1/comparisons/{cid}/final/grid", json=final, headers=AUTH)
    assert put.status_code == 200, put.text
    grid = next(r for r in put.json()["results"] if r["sampler"] == "grid")
    assert grid["test_metric"] == 0.93 and grid["test_metric_sd"] == 0.004
    unknown = client.put(f"/api/v1/comparisons/{cid}/final/cmaes", json=final, headers=AUTH)
    assert unknown.status_code == 400 and "use one of random, grid" in unknown.json()["detail"]
    nan = client.put(
        f"/api/v1/comparisons/{cid}/final/grid", json={"test_metric": "nan"}, headers=AUTH
    )
    assert nan.status_code == 422

    assert client.delete(f"/api/v1/comparisons/{cid}", headers=AUTH).status_code == 204
    for method, path in [
        ("GET", f"/api/v1/comparisons/{cid}"),
        ("DELETE", f"/api/v1/comparisons/{cid}"),
        ("PATCH", f"/api/v1/comparisons/{cid}"),
        ("PUT", f"/api/v1/comparisons/{cid}/final/grid"),
    ]:
        body = {"action": "resume"} if method == "PATCH" else final
        response = client.request(method, path, headers=AUTH, json=body)
        assert response.status_code == 404, (method, response.text)
        assert f"comparison {cid} not found" in response.json()["detail"]
    assert client.get(f"/api/v1/studies/{study_id}", headers=AUTH).status_code == 404


def test_studies_route_lists_one_comparisons_studies_or_those_of_none(client: TestClient) -> None:
    # The index page lists the standalone studies: the server filters them (issue 13), so the
    # page no longer fetches every study to drop the comparisons' in the browser.
    cid = client.post("/api/v1/comparisons", json=COMPARISON, headers=AUTH).json()["id"]
    study = {
        "name": "alone",
        "task": COMPARISON["task"],
        "space": GRIDDABLE,
        "sampler": {"name": "random"},
        "budget": {"n_trials": 3},
        "check_config": False,  # as the comparison's: no trainer runs it
    }
    created = client.post("/api/v1/studies", json=study, headers=AUTH)
    assert created.status_code == 201, created.text
    alone = created.json()["id"]

    every = client.get("/api/v1/studies", headers=AUTH).json()
    assert len(every) == 7
    standalone = client.get("/api/v1/studies?standalone=true", headers=AUTH).json()
    assert [s["id"] for s in standalone] == [alone]
    of_comparison = client.get(f"/api/v1/studies?comparison_id={cid}", headers=AUTH).json()
    assert len(of_comparison) == 6 and {s["comparison_id"] for s in of_comparison} == {cid}
    both = client.get(f"/api/v1/studies?comparison_id={cid}&standalone=true", headers=AUTH)
    assert both.status_code == 400 and "not both" in both.json()["detail"]
    assert client.get("/api/v1/studies?comparison_id=0", headers=AUTH).status_code == 422
