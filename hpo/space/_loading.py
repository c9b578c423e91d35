"""Reading search spaces from YAML/JSON files and study specs (the per-parameter format is
hpo/space/_parsing.py).

A study spec (`search_spaces/*.yaml`) holds the space under `space:`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpo.errors import SearchSpaceError, ValidationError
from hpo.space._space import SearchSpace
from hpo.yamlload import load_yaml


def space_from_dict(mapping: Mapping[str, Any]) -> SearchSpace:
    """A `SearchSpace` from `{name: {type: ..., ...}}`; errors are prefixed with the name."""
    return SearchSpace.from_dict(mapping)


def as_space(space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
    """Pass a `SearchSpace` through; build one from a mapping in the YAML format."""
    return space if isinstance(space, SearchSpace) else space_from_dict(space)


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or JSON (.json) file holding a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"cannot read {p}: {e.strerror}; check the path") from e
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            raise ValidationError(f"{p} is not valid JSON: {e}") from None
    else:
        data = load_yaml(text, source=str(p))  # bounded: depth, aliases expanded
    if not isinstance(data, dict):
        raise ValidationError(f"{p} must hold a mapping at its top level")
    return data


def load_space(path: str | Path) -> SearchSpace:
    """A search space from a YAML/JSON file: either a bare space or a study spec (`space:`)."""
    data = read_mapping(path)
    raw = data["space"] if "space" in data and isinstance(data["space"], Mapping) else data
    try:
        return space_from_dict(raw)
    except SearchSpaceError as e:
        raise SearchSpaceError(f"{path}: {e}") from e


def load_spec(path: str | Path) -> dict[str, Any]:
    """A study spec from a YAML/JSON file as a plain dict, its `space` checked and left as
    the mapping. The full schema (pydantic) belongs to the API; this only reads the file."""
    data = read_mapping(path)
    if "space" not in data:
        raise ValidationError(f"{path}: a study spec needs a space: mapping")
    try:
        space_from_dict(data["space"])
    except SearchSpaceError as e:
        raise SearchSpaceError(f"{path}: {e}") from e
    return data
