"""Trial logs and artifacts over the API (FastAPI's TestClient over a real database, SQLite
and PostgreSQL): the log keeps the last 1 MiB of each attempt whatever was sent, artifacts
are written only by the attempt holding the lease, held to their size limits (413), named
only inside their trial, and deleted with their study."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.settings import Settings

pytestmark = pytest.mark.integration

ADMIN, WORKER = "admin-logs-secret", "worker-logs-secret"
SPEC: dict[str, Any] = {
    "name": "logs",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 3, "max_parallel": 3},
}
A, W = {"Authorization": f"Bearer {ADMIN}"}, {"Authorization": f"Bearer {WORKER}"}
MIB = 1 << 20


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def client(database_url: str, artifacts_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        api_token=ADMIN,  # type: ignore[arg-type]
        worker_token=WORKER,  # type: ignore[arg-type]
        artifacts_dir=artifacts_dir,
        max_artifact_bytes=1000,
        max_study_artifact_bytes=2500,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _lease(client: TestClient) -> dict[str, Any]:
    study = client.post("/api/v1/studies", json=SPEC, headers=A).json()
    lease = client.post("/api/v1/workers/claim", json={"worker_id": "w"}, headers=W).json()
    assert lease["study_id"] == study["id"]
    return dict(lease)


def test_the_log_keeps_the_last_mib_of_50_mib(client: TestClient) -> None:
    lease = _lease(client)
    trial, token = lease["trial_id"], lease["lease_token"]
    line_bytes, per_chunk, chunks = 100, 5243, 100  # 100 chunks of ~512 KiB: 50 MiB in all
    sent = 0
    for _ in range(chunks):
        lines = [f"{sent + i:09d} " + "x" * (line_bytes - 11) + "\n" for i in range(per_chunk)]
        sent += per_chunk
        body = {"lease_token": token, "text": "".join(lines)}
        answer = client.post(f"/api/v1/trials/{trial}/logs", json=body, headers=W)
        assert answer.status_code == 200, answer.text
    assert answer.json()["end"] == sent * line_bytes >= 50 * MIB

    log = client.get(f"/api/v1/trials/{trial}/logs", headers=A)
    assert log.headers["content-type"].startswith("text/plain")
    marker, *kept = log.text.splitlines()
    assert len("".join(line + "\n" for line in kept).encode()) <= MIB
    assert len(kept) == MIB // line_bytes  # as many whole lines as fit, no more
    dropped = sent - len(kept)
    assert marker == (
        f"[hpo: {dropped} earlier lines ({dropped * line_bytes} bytes) dropped: the last "
        f"{MIB} bytes of each attempt's output are kept]"
    )
    # The kept lines are the last ones sent, in order, none missing.
    assert [int(line[:9]) for line in kept] == list(range(dropped, sent))

    tail = client.get(f"/api/v1/trials/{trial}/logs", params={"tail": 3}, headers=A).text
    assert [int(line[:9]) for line in tail.splitlines()] == [sent - 3, sent - 2, sent - 1]
    end = int(log.headers["x-hpo-log-end"])
    assert client.get(f"/api/v1/trials/{trial}/logs", params={"since": end}, headers=A).text == ""
    more = {"lease_token": token, "text": "last words\n"}
    client.post(f"/api/v1/trials/{trial}/logs", json=more, headers=W)
    follow = client.get(f"/api/v1/trials/{trial}/logs", params={"since": end}, headers=A)
    assert follow.text == "last words\n"


def test_a_log_is_written_only_with_the_lease(client: TestClient) -> None:
    lease = _lease(client)
    trial = lease["trial_id"]
    stale = client.post(
        f"/api/v1/trials/{trial}/logs", json={"lease_token": "stale", "text": "x\n"}, headers=W
    )
    assert stale.status_code == 409 and "lease token" in stale.json()["detail"]
    assert client.get(f"/api/v1/trials/{trial}/logs").status_code == 401  # reads need a token
    assert client.get(f"/api/v1/trials/{trial}/logs", headers=W).status_code == 403
    missing = client.get(f"/api/v1/trials/{trial}/logs", params={"attempt": 5}, headers=A)
    assert missing.status_code == 404 and "attempts 1 to 1" in missing.json()["detail"]
    assert client.get("/api/v1/trials/999999/logs", headers=A).status_code == 404


def _put(client: TestClient, trial: int, name: str, data: bytes, token: str, **headers: str) -> Any:
    return client.put(
        f"/api/v1/trials/{trial}/artifacts/{name}",
        content=data,
        headers={**W, "X-Hpo-Lease-Token": token, **headers},
    )


def test_artifacts_are_stored_limited_and_deleted_with_their_study(
    client: TestClient, artifacts_dir: Path
) -> None:
    lease = _lease(client)
    trial, token = lease["trial_id"], lease["lease_token"]
    put = _put(client, trial, "output/model.pt", b"w" * 600, token)
    assert put.status_code == 200 and put.json()["size"] == 600, put.text
    _put(client, trial, "checkpoint/state.pt", b"c" * 700, token)
    _put(client, trial, "checkpoint/state.pt", b"C" * 900, token)  # replaced, not added
    listing = client.get(f"/api/v1/trials/{trial}/artifacts", headers=A).json()
    assert [(a["name"], a["size"]) for a in listing] == [
        ("checkpoint/state.pt", 900),
        ("output/model.pt", 600),
    ]
    got = client.get(f"/api/v1/trials/{trial}/artifacts/checkpoint/state.pt", headers=A)
    assert got.content == b"C" * 900
    # A worker reads only with the trial's lease (restoring a checkpoint), not with any.
    url = f"/api/v1/trials/{trial}/artifacts/checkpoint/state.pt"
    assert client.get(url, headers=W).status_code == 403
    assert client.get(url, headers={**W, "X-Hpo-Lease-Token": "stale"}).status_code == 409
    assert client.get(url, headers={**W, "X-Hpo-Lease-Token": token}).content == b"C" * 900
    assert client.get(url).status_code == 401

    # Past one artifact's limit: refused on the declared length, and on a streamed body.
    big = _put(client, trial, "output/big.bin", b"b" * 1001, token)
    assert big.status_code == 413 and "HPO_MAX_ARTIFACT_BYTES" in big.json()["detail"]

    def streamed() -> Iterator[bytes]:
        yield from (b"s" * 400 for _ in range(3))

    chunked = client.put(
        f"/api/v1/trials/{trial}/artifacts/output/streamed.bin",
        content=streamed(),
        headers={**W, "X-Hpo-Lease-Token": token},
    )
    assert chunked.status_code == 413, chunked.text
    # Past the study's limit (2500 bytes: 1500 stored, 1000 more would make 2500 + 1).
    assert _put(client, trial, "output/fits.bin", b"f" * 1000, token).status_code == 200
    full = _put(client, trial, "output/one-more.bin", b"o", token)
    assert full.status_code == 413 and "HPO_MAX_STUDY_ARTIFACT_BYTES" in full.json()["detail"]
    names = [a["name"] for a in client.get(f"/api/v1/trials/{trial}/artifacts", headers=A).json()]
    assert "output/big.bin" not in names and "output/streamed.bin" not in names
    assert "output/one-more.bin" not in names

    # Only the attempt holding the lease writes.
    stale = _put(client, trial, "output/x", b"x", "stale-token")
    assert stale.status_code == 409
    no_lease = client.put(f"/api/v1/trials/{trial}/artifacts/output/x", content=b"x", headers=W)
    assert no_lease.status_code == 400 and "X-Hpo-Lease-Token" in no_lease.json()["detail"]

    study_dir = artifacts_dir / f"study-{lease['study_id']}"
    assert study_dir.is_dir()
    assert client.delete(f"/api/v1/studies/{lease['study_id']}", headers=A).status_code == 204
    assert not study_dir.exists()


@pytest.mark.parametrize(
    "name",
    ["%2E%2E/%2E%2E/escape", "output/%2E%2E/%2E%2E/%2E%2E/escape", "output/%2E/x", "a//b",
     "back%5Cslash", "%00nul", "output/" + "x" * 201],
)  # fmt: skip
def test_names_that_could_leave_the_trial_are_refused(
    client: TestClient, artifacts_dir: Path, name: str
) -> None:
    lease = _lease(client)
    answer = _put(client, lease["trial_id"], name, b"x", lease["lease_token"])
    assert answer.status_code in (400, 404, 422), answer.text
    if answer.status_code == 400:
        assert "artifact name" in answer.json()["detail"]
    written = [p for p in artifacts_dir.rglob("*") if p.is_file()] if artifacts_dir.exists() else []
    assert written == []
    assert not (artifacts_dir.parent / "escape").exists()
