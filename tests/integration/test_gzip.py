"""gzip on the edge: responses of 1 KiB and more are compressed for clients that accept it
(the ECharts bundle, a big study's plot payload), smaller ones and clients that do not ask
get the bytes as they are, and the setting turns it off."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.service import Service
from hpo.settings import Settings
from tests.integration.test_budgets import spec

pytestmark = pytest.mark.integration

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}
BUNDLE = "/static/vendor/echarts/echarts.min.js"


def server(tmp_path: Path, **settings: object) -> TestClient:
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    return TestClient(create_app(Settings(database_url=url, **settings)))  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with server(tmp_path) as c:
        yield c


def test_the_echarts_bundle_comes_gzipped_only_to_clients_that_accept_it(
    client: TestClient,
) -> None:
    zipped = client.get(BUNDLE, headers=GZIP)
    assert zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    plain = client.get(BUNDLE, headers=PLAIN)
    assert "content-encoding" not in plain.headers
    assert zipped.content == plain.content  # httpx decoded it: the same bundle
    with client.stream("GET", BUNDLE, headers=GZIP) as response:
        wire = b"".join(response.iter_raw())
    assert len(wire) < len(plain.content) / 2  # what went over the wire


def test_a_large_plot_payload_is_gzipped_and_small_answers_are_not(client: TestClient) -> None:
    study = client.post("/api/v1/studies", json=spec(n_trials=300, max_parallel=300).to_dict())
    study_id = study.json()["id"]
    service: Service = client.app.state.service  # type: ignore[attr-defined]
    for i in range(300):
        lease = service.dispatch.claim(f"w{i}")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, i / 300)
    plots = client.get(f"/api/v1/studies/{study_id}/plots", headers=GZIP)
    assert plots.status_code == 200 and plots.headers["content-encoding"] == "gzip"
    assert len(plots.content) > 1024
    with client.stream("GET", f"/api/v1/studies/{study_id}/plots", headers=GZIP) as response:
        wire = b"".join(response.iter_raw())
    assert gzip.decompress(wire) == plots.content
    assert len(wire) < len(plots.content) / 2
    # Below 1 KiB: as it is, even to a client that accepts gzip.
    health = client.get("/healthz", headers=GZIP)
    assert len(health.content) < 1024 and "content-encoding" not in health.headers
    # The worker protocol is never compressed, however large its answer.
    service.studies.update(study_id, n_trials=301)
    claim = client.post("/api/v1/workers/claim", json={"worker_id": "w"}, headers=GZIP)
    assert claim.status_code == 200 and "content-encoding" not in claim.headers
    lease = claim.json()
    both = client.post(
        f"/api/v1/trials/{lease['trial_id']}/complete-and-claim",
        json={"lease_token": lease["lease_token"], "value": 0.5, "worker_id": "w",
              "metrics": {"notes": "x" * 2000}},
        headers=GZIP,
    )  # fmt: skip
    assert both.status_code == 200 and len(both.content) > 2000
    assert "content-encoding" not in both.headers


def test_gzip_min_bytes_zero_turns_it_off(tmp_path: Path) -> None:
    with server(tmp_path, gzip_min_bytes=0) as c:
        assert "content-encoding" not in c.get(BUNDLE, headers=GZIP).headers
