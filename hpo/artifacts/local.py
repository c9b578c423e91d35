"""Artifacts as files under one directory (the server's data directory by default):
`<root>/study-<id>/trial-<id>/<name>`.

Each upload is written to a temporary file in the trial's folder and renamed over the old
one, so a reader sees the old version or the new, never a mix. The study-wide limit is
checked against the bytes on disk when the upload starts and again as it grows; two uploads
racing for the last bytes of a study's allowance may both land (bounded by the per-artifact
limit), which is acceptable for a guard against runaway scripts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from hpo.artifacts._names import validate_name
from hpo.artifacts._store import ArtifactInfo, ArtifactLimits
from hpo.errors import NotFoundError, TooLargeError

_PARTIAL = ".partial-"  # temporary upload files; never listed (not a valid name either)


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _study_dir(self, study_id: int) -> Path:
        return self.root / f"study-{int(study_id)}"

    def _trial_dir(self, study_id: int, trial_id: int) -> Path:
        return self._study_dir(study_id) / f"trial-{int(trial_id)}"

    def _path(self, study_id: int, trial_id: int, name: str) -> Path:
        # Validated again here: the store is the last line before the file system.
        return self._trial_dir(study_id, trial_id) / validate_name(name)

    def put(
        self,
        study_id: int,
        trial_id: int,
        name: str,
        chunks: Iterable[bytes],
        *,
        limits: ArtifactLimits,
    ) -> ArtifactInfo:
        path = self._path(study_id, trial_id, name)
        replaced = path.stat().st_size if path.is_file() else 0
        allowance = limits.max_study_bytes - (self.study_bytes(study_id) - replaced)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=_PARTIAL, dir=path.parent)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    _check_size(name, written, limits, allowance)
                    out.write(chunk)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        stat = path.stat()
        return ArtifactInfo(name, stat.st_size, stat.st_mtime)

    def list(self, study_id: int, trial_id: int, prefix: str = "") -> list[ArtifactInfo]:
        base = self._trial_dir(study_id, trial_id)
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            if not path.is_file() or path.name.startswith(_PARTIAL):
                continue
            name = path.relative_to(base).as_posix()
            if name.startswith(prefix):
                stat = path.stat()
                found.append(ArtifactInfo(name, stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda info: info.name)

    def open(self, study_id: int, trial_id: int, name: str) -> BinaryIO:
        path = self._path(study_id, trial_id, name)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as e:
            raise NotFoundError(
                f"trial {trial_id} has no artifact {name!r}: list them with GET "
                f"/api/v1/trials/{trial_id}/artifacts"
            ) from e

    def read_chunks(
        self, study_id: int, trial_id: int, name: str, chunk_bytes: int = 1 << 20
    ) -> Iterator[bytes]:
        handle = self.open(study_id, trial_id, name)  # raises before the first chunk
        return _chunks(handle, chunk_bytes)

    def study_bytes(self, study_id: int) -> int:
        base = self._study_dir(study_id)
        if not base.is_dir():
            return 0
        return sum(p.stat().st_size for p in base.rglob("*") if p.is_file())

    def delete_study(self, study_id: int) -> None:
        shutil.rmtree(self._study_dir(study_id), ignore_errors=True)


def _chunks(handle: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


def _check_size(name: str, written: int, limits: ArtifactLimits, allowance: int) -> None:
    if written > limits.max_artifact_bytes:
        raise TooLargeError(
            f"artifact {name!r} is larger than {limits.max_artifact_bytes} bytes, the limit per "
            "artifact (HPO_MAX_ARTIFACT_BYTES on the server): keep fewer or smaller files"
        )
    if written > allowance:
        raise TooLargeError(
            f"artifact {name!r} would take the study past {limits.max_study_bytes} bytes of "
            "artifacts (HPO_MAX_STUDY_ARTIFACT_BYTES on the server): delete old studies or "
            "raise the limit"
        )
