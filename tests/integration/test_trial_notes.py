"""A trial's note and tags over HTTP, on SQLite and PostgreSQL: set by an admin, bounded,
shown in the trials list, the leaderboard and the CLI's trials table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.commands.trials import trials_sheet
from hpo.settings import Settings
from hpo.wire import TrialView
from tests.integration.test_budgets import spec

pytestmark = pytest.mark.integration

ADMIN, WORKER = "admin-N0tes", "worker-N0tes"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        api_token=ADMIN,  # type: ignore[arg-type]
        worker_token=WORKER,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as c:
        yield c


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_notes_and_tags_a_trial_and_every_view_shows_them(client: TestClient) -> None:
    study = client.post("/api/v1/studies", json=spec().to_dict(), headers=as_(ADMIN)).json()
    lease = client.post(
        "/api/v1/workers/claim", json={"worker_id": "w1"}, headers=as_(WORKER)
    ).json()
    done = client.post(
        f"/api/v1/trials/{lease['trial_id']}/complete",
        json={"lease_token": lease["lease_token"], "value": 0.9},
        headers=as_(WORKER),
    )
    assert done.status_code == 200 and done.json()["tags"] == [] and done.json()["note"] is None
    url = f"/api/v1/trials/{lease['trial_id']}"
    body = {
        "note": "lr looks too high;\nretry with warm-up",
        "tags": ["baseline", " gpu-a ", "baseline"],
    }
    assert client.patch(url, json=body, headers=as_(WORKER)).status_code == 403
    changed = client.patch(url, json=body, headers=as_(ADMIN))
    assert changed.status_code == 200, changed.text
    assert changed.json()["tags"] == ["baseline", "gpu-a"]  # trimmed, duplicates dropped
    # Only the tags: the note stays.
    tags_only = client.patch(url, json={"tags": ["keep"]}, headers=as_(ADMIN)).json()
    assert tags_only["note"] == body["note"] and tags_only["tags"] == ["keep"]
    listed = client.get(f"/api/v1/studies/{study['id']}/trials", headers=as_(ADMIN)).json()
    assert listed["items"][0]["note"] == body["note"]
    board = client.get(f"/api/v1/studies/{study['id']}/leaderboard", headers=as_(ADMIN)).json()
    assert board[0]["tags"] == ["keep"]
    sheet = trials_sheet(study["id"], [TrialView.from_json(listed["items"][0])], None)
    assert sheet.rows[0][-2:] == ["keep", "lr looks too high; retry with warm-up"]
    cleared = client.patch(url, json={"note": None, "tags": []}, headers=as_(ADMIN)).json()
    assert (cleared["note"], cleared["tags"]) == (None, [])


BAD = [
    ({"note": "x" * 2001}, "note"),
    ({"note": "bell\x07"}, "U+0007"),
    ({"tags": ["t"] * 17}, "tags"),
    ({"tags": ["x" * 41]}, "tags"),
    ({"tags": [""]}, "tags"),
    ({"tags": ["a\u202eb"]}, "U+202E"),
    ({"colour": "red"}, "colour"),
]


def test_bad_annotations_are_refused_with_the_field_named(client: TestClient) -> None:
    client.post("/api/v1/studies", json=spec().to_dict(), headers=as_(ADMIN))
    lease = client.post(
        "/api/v1/workers/claim", json={"worker_id": "w1"}, headers=as_(WORKER)
    ).json()
    url = f"/api/v1/trials/{lease['trial_id']}"
    for body, field in BAD:
        refused = client.patch(url, json=body, headers=as_(ADMIN))
        assert refused.status_code == 422, (body, refused.text)
        assert field in refused.text, (body, refused.text)
    missing = client.patch("/api/v1/trials/999999", json={"note": "n"}, headers=as_(ADMIN))
    assert missing.status_code == 404
    unchanged = client.get(f"/api/v1/studies/{lease['study_id']}/trials", headers=as_(ADMIN))
    assert unchanged.json()["items"][0]["note"] is None
