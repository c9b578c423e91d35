"""Artifact names: relative paths of plain segments, checked before any store sees them."""

from __future__ import annotations

import re

from hpo.errors import ValidationError

CHECKPOINT_PREFIX = "checkpoint/"
OUTPUT_PREFIX = "output/"

# A segment: letters, digits, dot, dash, underscore, plus; not "." or "..". No backslash, no
# colon, no control character: a name means the same file on every store and platform.
_SEGMENT = re.compile(r"^[A-Za-z0-9._+-]{1,200}$")
_MAX_NAME = 1000
_MAX_DEPTH = 16


def validate_name(name: str) -> str:
    """`name` if it is a safe artifact name, else ValidationError saying what is wrong."""
    if not name or len(name) > _MAX_NAME:
        raise ValidationError(f"artifact name must be 1 to {_MAX_NAME} characters, got {len(name)}")
    if name.startswith("/"):
        raise ValidationError(
            f"artifact name {name[:100]!r} is absolute: use a relative path like output/model.pt"
        )
    segments = name.split("/")
    if len(segments) > _MAX_DEPTH:
        raise ValidationError(f"artifact name has {len(segments)} segments; at most {_MAX_DEPTH}")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValidationError(
                f"artifact name {name[:100]!r} has an empty, '.' or '..' segment: names are "
                "relative paths inside the trial, like checkpoint/state.pt"
            )
        if not _SEGMENT.match(segment):
            raise ValidationError(
                f"artifact name segment {segment[:100]!r} may hold only letters, digits and "
                "'._+-' (at most 200 characters)"
            )
    return name
