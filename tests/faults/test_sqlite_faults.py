"""SQLite under a real `hpo serve`: another process holding an exclusive lock, and a full
disk. Each gives a clear error (503 with a message, which workers retry), the study goes on
afterwards, and the file stays sound (`PRAGMA integrity_check`)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults._harness import (
    api_server,
    check_study_outcome,
    grid_spec,
    read_journal,
    start_sim_worker,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOLD_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def spec(name: str) -> dict[str, Any]:
    return {**grid_spec(name, 5), "sampler": "random"}


def test_locked_database_is_a_clear_503_and_the_study_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "data" / "hpo.db"
    env = {"HPO_SQLITE_BUSY_TIMEOUT_SECONDS": "1", "HPO_LEASE_SECONDS": "30"}
    journal = tmp_path / "journal.jsonl"
    with api_server(tmp_path, env) as api:
        study = httpx.post(f"{api.url}/api/v1/studies", json=grid_spec("locked", 20)).json()
        workers = [
            start_sim_worker(api.url, journal, name=f"w{i}", steps=3, step_seconds=0.05)
            for i in range(2)
        ]
        try:
            wait_for(lambda: len(read_journal(journal)) >= 4, 60, "the workers to start")
            locker = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, str(db), "4"], stdout=subprocess.PIPE, text=True
            )
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            refused = httpx.post(f"{api.url}/api/v1/studies", json=spec("while-locked"), timeout=30)
            assert refused.status_code == 503, refused.text
            detail = refused.json()["detail"]
            assert "locked" in detail and "retry" in detail, detail
            assert locker.wait(30) == 0
            # The workers retried through the lock and finish the study.
            wait_for(
                lambda: (
                    httpx.get(f"{api.url}/api/v1/studies/{study['id']}").json()["state"]
                    == "completed"
                ),
                120,
                "the study to finish after the lock",
            )
        finally:
            for w in workers:
                w.kill()
                w.wait()
        check_study_outcome(api.url, study["id"], 20, journal)
        after = httpx.post(f"{api.url}/api/v1/studies", json=spec("after-lock"))
        assert after.status_code == 201, after.text
    assert not [e for e in read_journal(journal) if e["event"] in ("refused", "vanished")]
    assert integrity(db) == "ok"


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root's mount rights; skipped without them)."""
    mount_point = Path(tempfile.mkdtemp(prefix="hpo-tiny-disk-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tiny tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (65_536, 4096, 512):  # down to the last bytes
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def test_full_disk_is_a_clear_error_and_nothing_is_corrupted(
    tmp_path: Path, tiny_disk: Path
) -> None:
    db = tiny_disk / "hpo.db"
    created: list[int] = []
    with api_server(tmp_path, {"HPO_DATABASE_URL": f"sqlite:///{db}"}) as api:
        created.append(httpx.post(f"{api.url}/api/v1/studies", json=spec("before")).json()["id"])
        filler = fill(tiny_disk)
        failure = None
        for i in range(500):  # SQLite may find free pages for the first few writes
            response = httpx.post(f"{api.url}/api/v1/studies", json=spec(f"full-{i}"), timeout=30)
            if response.status_code != 201:
                failure = response
                break
            created.append(response.json()["id"])
        assert failure is not None, "the disk never filled up"
        assert failure.status_code == 503, failure.text
        assert "disk is full" in failure.json()["detail"], failure.text
        assert httpx.get(f"{api.url}/healthz").status_code in (200, 503)
        filler.unlink()
        after = httpx.post(f"{api.url}/api/v1/studies", json=spec("after"), timeout=30)
        assert after.status_code == 201, after.text
        created.append(after.json()["id"])
        listed = httpx.get(f"{api.url}/api/v1/studies", params={"limit": 1000}).json()
        assert sorted(s["id"] for s in listed) == sorted(created), "an acknowledged study is lost"
    assert integrity(db) == "ok"
