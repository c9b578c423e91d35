"""The artifact store: files a trial leaves behind (its checkpoint, its outputs, the built-in
trainers' weights), kept per study and trial, behind one small interface.

    store = LocalArtifactStore(settings.data_dir / "artifacts")
    store.put(study_id, trial_id, "output/model.pt", chunks, limits=limits)
    for info in store.list(study_id, trial_id, prefix="checkpoint/"): ...
    with store.open(study_id, trial_id, "output/model.pt") as f: ...
    store.delete_study(study_id)

Names are relative paths of plain segments (`checkpoint/state.pt`): `validate_name` refuses
anything that could leave the trial's folder. Two prefixes mean something to hpo: `checkpoint/`
(what a worker restores into a requeued attempt) and `output/` (what a completed trial kept).
A later S3-compatible store implements `ArtifactStore` and is chosen where the service is built.
"""

from __future__ import annotations

from hpo.artifacts._names import CHECKPOINT_PREFIX, OUTPUT_PREFIX, validate_name
from hpo.artifacts._store import ArtifactInfo, ArtifactLimits, ArtifactStore
from hpo.artifacts.local import LocalArtifactStore

__all__ = [
    "CHECKPOINT_PREFIX",
    "OUTPUT_PREFIX",
    "ArtifactInfo",
    "ArtifactLimits",
    "ArtifactStore",
    "LocalArtifactStore",
    "validate_name",
]
