"""Artifact names and the local artifact store: a name never leaves its trial's folder, an
upload lands whole or not at all, and the limits hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo.artifacts import ArtifactLimits, LocalArtifactStore, validate_name
from hpo.errors import NotFoundError, TooLargeError, ValidationError

pytestmark = pytest.mark.unit

LIMITS = ArtifactLimits(max_artifact_bytes=100, max_study_bytes=250)


@pytest.mark.parametrize(
    "name", ["model.pt", "output/model.pt", "checkpoint/step-3/state_v2+1.pt", "a" * 200]
)
def test_good_names_pass(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "..", "a\\..\\b",
     "c:/x", "nul\x00", "tab\tname", "é", "a" * 201, "/".join("a" * 17), "x" * 1001],
)  # fmt: skip
def test_bad_names_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(ValidationError, match="artifact name"):
        validate_name(name)


def _chunks(*parts: bytes) -> Iterator[bytes]:
    yield from parts


def test_put_list_open_and_delete(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put(1, 10, "output/model.pt", _chunks(b"ab", b"cd"), limits=LIMITS)
    store.put(1, 10, "checkpoint/state.pt", _chunks(b"x" * 50), limits=LIMITS)
    store.put(2, 20, "output/other", _chunks(b"y"), limits=LIMITS)
    assert [(i.name, i.size) for i in store.list(1, 10)] == [
        ("checkpoint/state.pt", 50),
        ("output/model.pt", 4),
    ]
    assert [i.name for i in store.list(1, 10, prefix="output/")] == ["output/model.pt"]
    assert b"".join(store.read_chunks(1, 10, "output/model.pt", chunk_bytes=3)) == b"abcd"
    with pytest.raises(NotFoundError, match="no artifact"):
        store.open(1, 10, "output/missing")
    assert store.study_bytes(1) == 54
    store.delete_study(1)
    assert store.list(1, 10) == [] and store.study_bytes(1) == 0
    assert [i.name for i in store.list(2, 20)] == ["output/other"]
    store.delete_study(99)  # a study with no artifacts: nothing to do


def test_a_refused_upload_keeps_the_previous_version_and_leaves_no_partial(
    tmp_path: Path,
) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put(1, 10, "checkpoint/state.pt", _chunks(b"old"), limits=LIMITS)
    with pytest.raises(TooLargeError, match="HPO_MAX_ARTIFACT_BYTES"):
        store.put(1, 10, "checkpoint/state.pt", _chunks(b"n" * 60, b"n" * 60), limits=LIMITS)

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(1, 10, "checkpoint/state.pt", broken(), limits=LIMITS)
    assert b"".join(store.read_chunks(1, 10, "checkpoint/state.pt")) == b"old"
    files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert files == ["state.pt"]


def test_the_study_limit_counts_a_replaced_artifact_once(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    for trial in (10, 11):
        store.put(1, trial, "checkpoint/state.pt", _chunks(b"x" * 100), limits=LIMITS)
    # 200 of 250 used: replacing a 100-byte file with another fits, a new one does not.
    store.put(1, 10, "checkpoint/state.pt", _chunks(b"z" * 100), limits=LIMITS)
    with pytest.raises(TooLargeError, match="HPO_MAX_STUDY_ARTIFACT_BYTES"):
        store.put(1, 12, "checkpoint/state.pt", _chunks(b"x" * 51), limits=LIMITS)
    store.put(2, 20, "checkpoint/state.pt", _chunks(b"x" * 100), limits=LIMITS)  # another study
