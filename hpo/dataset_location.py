"""The server's check of a study's dataset path, at creation.

Workers read a user dataset only inside their own data roots (`hpo worker --data-root`), and
that is the rule that protects them. The server refuses early what no worker should be asked
to read, so a bad spec is a 422 at the door and not a failed trial on every worker:

- a relative path (looked up under each worker's data roots) must not contain `..`;
- an absolute path must lie inside one of the server's `HPO_DATASET_ROOTS`; with none set,
  absolute paths are refused (a study names its file relative to the workers' roots);
- `~` (a home directory on the worker) and control characters are refused.

The server has no access to the workers' files, so this is a check of the text only; the
workers resolve symlinks themselves.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from pathlib import PurePosixPath

from hpo.errors import SpecRejected

_FILE_FORMATS = ("csv", "npz")


def dataset_file_path(dataset: str) -> str | None:
    """The file path a task's dataset string names (`csv:PATH?label=y`, `npz:PATH`,
    `PATH.csv?...`), or None for a built-in name. Mirrors trainers.data.DataSpec's parsing."""
    scheme, sep, rest = dataset.partition(":")
    if sep and scheme in _FILE_FORMATS:
        return rest.partition("?")[0]
    path = dataset.partition("?")[0]
    if PurePosixPath(path).suffix.lstrip(".").lower() in _FILE_FORMATS:
        return path
    return None


def check_dataset_location(dataset: str, roots: Sequence[str]) -> None:
    """Raise SpecRejected (HTTP 422) when `dataset` names a file no worker should read."""
    path = dataset_file_path(dataset)
    if path is None:
        return
    allowed = ", ".join(roots) if roots else "none set"
    hint = (
        "name the file relative to the workers' data roots (hpo worker --data-root), e.g. "
        "csv:iris.csv?label=species"
    )
    if any(ord(ch) < 32 for ch in path):
        raise SpecRejected(f"task.dataset: the path contains a control character; {hint}")
    if path.startswith("~"):
        raise SpecRejected(f"task.dataset: {path!r} names a home directory; {hint}")
    if ".." in PurePosixPath(path).parts:
        raise SpecRejected(f"task.dataset: {path!r} contains '..'; {hint}")
    if not posixpath.isabs(path):
        return
    normal = PurePosixPath(posixpath.normpath(path))
    if not any(normal.is_relative_to(PurePosixPath(posixpath.normpath(r))) for r in roots):
        raise SpecRejected(
            f"task.dataset: the absolute path {path!r} is outside the dataset roots this server "
            f"allows (HPO_DATASET_ROOTS: {allowed}); {hint}"
        )
