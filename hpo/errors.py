"""The domain error tree. Every error message says what is wrong and what to do about it.

`api/` maps these to HTTP once; the CLI prints them as one line on stderr with exit code 2.
"""

from __future__ import annotations


class HpoError(Exception):
    """Root of every error hpo raises on purpose."""


class ValidationError(HpoError):
    """Input (a search space, a spec, a config) is invalid. Maps to HTTP 400/422."""


class SearchSpaceError(ValidationError):
    """A search space is malformed: bad bounds, unknown type, empty choices, grid too large..."""


class UnknownSamplerError(ValidationError):
    """A sampler name that is not in the registry."""


class NotFoundError(HpoError):
    """A study, trial or comparison that does not exist. Maps to HTTP 404."""


class ConflictError(HpoError):
    """The request conflicts with the current state (stale lease, finished trial). HTTP 409."""
