"""Trial artifacts over an `ArtifactStore`: who may write (the attempt holding the lease),
what the store is asked (the trial's study, validated names, the limits), and the checkpoint
a worker restores into a requeued attempt.

The store does the file work; this checks the lease in one short read transaction and does
not hold it while bytes move, so a large upload never holds a database connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from hpo.artifacts import ArtifactInfo, ArtifactLimits, ArtifactStore, validate_name
from hpo.errors import NotFoundError
from hpo.service.dispatch.leases import check_token
from hpo.storage import Database, Trial


class TrialArtifacts:
    def __init__(self, db: Database, store: ArtifactStore, limits: ArtifactLimits) -> None:
        self.db = db
        self.store = store
        self.limits = limits

    def _trial(self, trial_id: int, token: str | None = None, action: str = "") -> int:
        """The trial's study id; with `token`, only if it is the trial's current lease."""
        with self.db.transaction(write=False) as session:
            trial = session.get(Trial, trial_id)
            if trial is None:
                raise NotFoundError(f"trial {trial_id} not found; list a study's trials first")
            if token is not None:
                check_token(trial, token, action)
            return trial.study_id

    def put(self, trial_id: int, token: str, name: str, chunks: Iterable[bytes]) -> ArtifactInfo:
        validate_name(name)
        study_id = self._trial(trial_id, token, "upload an artifact of")
        return self.store.put(study_id, trial_id, name, chunks, limits=self.limits)

    def list(self, trial_id: int, prefix: str = "", token: str | None = None) -> list[ArtifactInfo]:
        study_id = self._trial(trial_id, token, "list the artifacts of")
        return self.store.list(study_id, trial_id, prefix)

    def read(self, trial_id: int, name: str, token: str | None = None) -> Iterator[bytes]:
        """The artifact's bytes, in chunks. With `token` (a worker restoring a checkpoint),
        only for the attempt that holds the lease."""
        validate_name(name)
        study_id = self._trial(trial_id, token, "read an artifact of")
        return self.store.read_chunks(study_id, trial_id, name)

    def delete_study(self, study_id: int) -> None:
        self.store.delete_study(study_id)
