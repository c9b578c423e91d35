"""The interface every artifact store implements, and the limits it enforces."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class ArtifactInfo:
    name: str
    size: int  # bytes
    modified_at: float  # seconds since the epoch, when it was last written


@dataclass(frozen=True)
class ArtifactLimits:
    """`max_artifact_bytes`: one artifact; `max_study_bytes`: all of a study's artifacts
    together (an artifact being replaced counts at its new size only)."""

    max_artifact_bytes: int
    max_study_bytes: int


class ArtifactStore(Protocol):
    """Files per (study, trial, name). Names are validated by the caller (`validate_name`).

    `put` writes all of `chunks` or nothing: a reader (or a worker restoring a checkpoint)
    never sees half an upload, and a refused upload (TooLargeError, past `limits`) leaves
    the previous version in place. `list` is sorted by name; `open` raises NotFoundError for
    a name not stored. `delete_study` removes every artifact of the study (and is a no-op
    for a study that has none)."""

    def put(
        self,
        study_id: int,
        trial_id: int,
        name: str,
        chunks: Iterable[bytes],
        *,
        limits: ArtifactLimits,
    ) -> ArtifactInfo: ...

    def list(self, study_id: int, trial_id: int, prefix: str = "") -> list[ArtifactInfo]: ...

    def open(self, study_id: int, trial_id: int, name: str) -> BinaryIO: ...

    def read_chunks(
        self, study_id: int, trial_id: int, name: str, chunk_bytes: int = 1 << 20
    ) -> Iterator[bytes]: ...

    def study_bytes(self, study_id: int) -> int: ...

    def delete_study(self, study_id: int) -> None: ...
