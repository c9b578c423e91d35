"""Where a user's dataset file may be read from.

A worker trains whatever spec the API hands it, and a spec is written by whoever holds the
admin token. So on a worker a dataset path is only read inside the folders the worker's owner
allows (its data roots): a relative path is looked up under each root in turn, an absolute one
must lie inside one. Both are resolved first, symlinks included, so neither `..` nor a link
inside a root reaches out of it. The check comes before any look at the file, so a refused
path says nothing about whether it exists.

`data_roots=None` (a person's own `hpo train`, the Python API) reads any path, relative to the
working directory, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trainers.errors import ConfigError


def locate_user_file(text: str, data_roots: Sequence[Path] | None) -> Path:
    """The file a dataset spec's `path` names, resolved; ConfigError when it may not be read
    (outside every data root) or does not exist."""
    if "\x00" in text:
        raise ConfigError("a dataset path cannot contain a NUL character")
    if data_roots is None:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"dataset file {str(path)!r} does not exist")
        return path
    roots = [Path(root).expanduser().resolve() for root in data_roots]
    if not roots:
        raise ConfigError(
            "this worker reads no user datasets (no data roots): start it with --data-root DIR"
        )
    given = Path(text)
    if given.is_absolute():
        resolved = given.resolve()
        if not any(resolved.is_relative_to(root) for root in roots):
            raise _outside(text, roots)
        candidates = [resolved]
    else:
        candidates = []
        for root in roots:
            resolved = (root / given).resolve()
            if not resolved.is_relative_to(root):
                # `..`, or a symlink inside the root that points out of it.
                raise _outside(text, roots)
            candidates.append(resolved)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"dataset file {text!r} not found under this worker's data roots ({_names(roots)}): "
        "copy it there, or start the worker with --data-root DIR"
    )


def _outside(text: str, roots: Sequence[Path]) -> ConfigError:
    return ConfigError(
        f"dataset path {text!r} is outside this worker's data roots ({_names(roots)}): "
        "name a file under one of them (a relative path is looked up in each), or start the "
        "worker with --data-root DIR"
    )


def _names(roots: Sequence[Path]) -> str:
    return ", ".join(str(root) for root in roots)
