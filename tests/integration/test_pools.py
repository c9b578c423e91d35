"""Worker pools on real databases (SQLite and PostgreSQL): a claim serves only the studies of
the worker's pools, a study whose pool has no live worker says so, the fleet lists who is live
and what it runs, and /metrics counts the claimable trial slots per pool."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.errors import ValidationError
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database

pytestmark = pytest.mark.integration

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}


def spec(pool: str | None = None, **overrides: Any) -> Any:
    base: dict[str, Any] = {
        "name": f"in-{pool or 'default'}",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": SPACE,
        "sampler": "random",
        "budget": {"n_trials": 6, "max_parallel": 4},
        "check_config": False,
    }
    if pool is not None:
        base["resources"] = {"pool": pool, "gpus_per_trial": 1}
    base.update(overrides)
    return parse_study_spec(base)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_claims_serve_only_the_studies_of_the_workers_pools(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    a100 = service.studies.create(spec("a100"))
    plain = service.studies.create(spec())
    assert (a100.pool, plain.pool) == ("a100", "default")

    on_cpu = [service.dispatch.claim(f"cpu{i}") for i in range(5)]
    assert {lease.study_id for lease in on_cpu if lease} == {plain.id}
    assert on_cpu[4] is None  # max_parallel 4 in the default pool; a100's room is not theirs

    on_gpu = service.dispatch.claim("gpu0", pools=("a100",))
    assert on_gpu is not None and on_gpu.study_id == a100.id
    both = service.dispatch.claim("gpu1", pools=("h100", "a100"))
    assert both is not None and both.study_id == a100.id
    assert service.dispatch.claim("h100-only", pools=("h100",)) is None


def test_a_batch_of_claims_from_several_pools_serves_each_from_its_own(db: Database) -> None:
    from hpo.service.dispatch.claims import ClaimRequest

    service = Service(db, prepare_suggestions=False)
    a100 = service.studies.create(spec("a100"))
    plain = service.studies.create(spec())
    requests = [
        ClaimRequest("w0", "", (), pools=("default",)),
        ClaimRequest("w1", "", (), pools=("a100",)),
        ClaimRequest("w2", "", (), pools=("default",)),
        ClaimRequest("w3", "", (), pools=("v100",)),
    ]
    leases = service.dispatch.claims.serve_batch(requests)
    studies = [None if lease is None else lease.study_id for lease in leases]
    assert studies == [plain.id, a100.id, plain.id, None]


def test_bad_pools_are_refused_with_the_rule(db: Database) -> None:
    with pytest.raises(ValidationError, match=r"resources\.pool 'A100!' is not a pool name"):
        spec("A100!")
    with pytest.raises(ValidationError, match="gpus_per_trial"):
        spec("a100", resources={"pool": "a100", "gpus_per_trial": -1})
    with pytest.raises(ValidationError, match="a trial trains on one device"):
        spec("a100", resources={"pool": "a100", "gpus_per_trial": 2})
    service = Service(db, prepare_suggestions=False)
    with pytest.raises(ValidationError, match="not a pool name"):
        service.dispatch.claim("w", pools=("",))


def test_a_study_whose_pool_has_no_live_worker_says_so(db: Database) -> None:
    clock = Clock()
    service = Service(db, prepare_suggestions=False, clock=clock, lease_seconds=60)
    study = service.studies.create(spec("a100"))
    assert service.studies.get(study.id).waiting_for == "no live worker in pool a100"

    lease = service.dispatch.claim("gpu0", host="box", devices=("cuda:0",), pools=("a100",))
    assert lease is not None
    assert service.studies.get(study.id).waiting_for is None

    # Training a long trial: no claim for minutes, but the heartbeats keep its lease live.
    clock.advance(50)
    service.dispatch.heartbeat(lease.trial_id, lease.lease_token)
    clock.advance(50)
    assert service.studies.get(study.id).waiting_for is None
    [worker] = service.workers.live()
    assert worker.current_trials == [lease.trial_id]

    # The worker died: its lease expired, and it has not claimed for longer than a live
    # worker would.
    clock.advance(120)
    assert service.workers.live() == []
    assert service.studies.get(study.id).waiting_for == "no live worker in pool a100"
    service.studies.update(study.id, action="pause")
    assert service.studies.get(study.id).waiting_for is None  # paused: not the fleet's doing


def test_live_workers_show_pools_devices_and_current_trials(db: Database) -> None:
    clock = Clock()
    service = Service(db, prepare_suggestions=False, clock=clock)
    service.studies.create(spec("a100"))
    held = service.dispatch.claim("gpu0", host="box1", devices=("cuda:0",), pools=("a100",))
    assert held is not None
    assert service.dispatch.claim("idle", host="box2", devices=("cpu",)) is None
    workers = {w.id: w for w in service.workers.live()}
    assert set(workers) == {"gpu0", "idle"}
    gpu0, idle = workers["gpu0"], workers["idle"]
    assert (gpu0.host, gpu0.pools, gpu0.devices, gpu0.slots) == ("box1", ["a100"], ["cuda:0"], 1)
    assert gpu0.current_trials == [held.trial_id]
    assert (idle.pools, idle.current_trials, idle.last_seen) == (["default"], [], clock.now)


def test_claimable_slots_per_pool(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    a100 = service.studies.create(spec("a100"))  # budget 6, max_parallel 4
    service.studies.create(spec("a100", name="small", budget={"n_trials": 2, "max_parallel": 8}))
    service.studies.create(spec())
    paused = service.studies.create(spec("idle-pool", name="paused"))
    service.studies.update(paused.id, action="pause")
    assert service.workers.claimable_slots() == {"a100": 4 + 2, "default": 4}

    def a100_slots() -> int:
        return service.workers.claimable_slots()["a100"] - 2  # "small" keeps its 2

    leases = [service.dispatch.ask(a100.id) for _ in range(4)]
    assert a100_slots() == 0  # capped by max_parallel: 4 running
    for lease in leases[:3]:
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)
    assert a100_slots() == 2  # 6 - 3 finished - 1 running, under 4 - 1 free
    service.dispatch.ask(a100.id)
    assert a100_slots() == 1  # 6 - 3 - 2


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, api_token="adm", worker_token="wrk")  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        yield c


def test_the_api_routes_pools_and_lists_workers(client: TestClient) -> None:
    admin, worker = {"Authorization": "Bearer adm"}, {"Authorization": "Bearer wrk"}
    body = {
        "name": "gpu",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": SPACE,
        "sampler": "random",
        "budget": {"n_trials": 3, "max_parallel": 2},
        "resources": {"pool": "a100"},
    }
    bad = client.post(
        "/api/v1/studies", json={**body, "resources": {"pool": "A 100"}}, headers=admin
    )
    assert bad.status_code == 422 and "resources.pool" in bad.json()["detail"], bad.text
    study = client.post("/api/v1/studies", json=body, headers=admin).json()
    assert study["pool"] == "a100" and study["spec"]["resources"]["pool"] == "a100"
    got = client.get(f"/api/v1/studies/{study['id']}", headers=admin).json()
    assert got["waiting_for"] == "no live worker in pool a100"

    claim = {"worker_id": "cpu-box", "host": "h", "devices": ["cpu"]}
    assert client.post("/api/v1/workers/claim", json=claim, headers=worker).status_code == 204
    bad_claim = client.post(
        "/api/v1/workers/claim", json={**claim, "pools": ["no spaces"]}, headers=worker
    )
    assert bad_claim.status_code == 422 and "pool name" in bad_claim.json()["detail"]
    lease = client.post(
        "/api/v1/workers/claim", json={**claim, "worker_id": "gpu-box", "pools": ["a100"]},
        headers=worker,
    ).json()  # fmt: skip
    assert lease["study_id"] == study["id"]
    assert client.get(f"/api/v1/studies/{study['id']}", headers=admin).json()["waiting_for"] is None

    assert client.get("/api/v1/workers", headers=worker).status_code == 403
    listed = {w["id"]: w for w in client.get("/api/v1/workers", headers=admin).json()}
    assert listed["gpu-box"]["pools"] == ["a100"]
    assert listed["gpu-box"]["current_trials"] == [lease["trial_id"]]
    assert listed["cpu-box"]["pools"] == ["default"] and listed["cpu-box"]["current_trials"] == []

    text = client.get("/metrics", headers=admin).text
    assert 'hpo_claimable_slots{pool="a100"} 1' in text  # max_parallel 2, one running


def test_the_health_check_reads_one_row_not_the_trials(db: Database) -> None:
    """A load balancer checks each replica several times a second: /healthz must not count
    the trials table (it did: a full scan per check, growing with every trial)."""
    from sqlalchemy import event

    service = Service(db, prepare_suggestions=False)
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert service.check_database() in ("sqlite", "postgresql")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    queries = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert queries and not any("trials" in s for s in queries), seen
