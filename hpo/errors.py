"""The domain error tree. Every error message says what is wrong and what to do about it.

`api/` maps these to HTTP once; the CLI prints them as one line on stderr with exit code 2.
"""

from __future__ import annotations


class HpoError(Exception):
    """Root of every error hpo raises on purpose."""


class ValidationError(HpoError):
    """Input (a search space, a spec, a config) is invalid. Maps to HTTP 400/422."""


class UntrainableError(ValidationError):
    """A config (task, params) the built-in trainers would refuse on every trial. HTTP 422."""


class LimitError(ValidationError):
    """Input within the schema but beyond a server cap (a budget, a size). HTTP 422."""


class SearchSpaceError(ValidationError):
    """A search space is malformed: bad bounds, unknown type, empty choices, grid too large..."""


class SpecRejected(ValidationError):
    """A well-formed spec this server refuses by its policy (a dataset path outside the roots
    it allows). HTTP 422, like a schema error."""


class UnknownSamplerError(ValidationError):
    """A sampler name that is not in the registry."""


class UnknownPrunerError(ValidationError):
    """A pruner name that is not in the registry."""


class TooLargeError(HpoError):
    """An upload beyond a size limit (one artifact, a study's artifacts). Maps to HTTP 413."""


class NotFoundError(HpoError):
    """A study, trial or comparison that does not exist. Maps to HTTP 404."""


class ConflictError(HpoError):
    """The request conflicts with the current state (stale lease, finished trial). HTTP 409."""


class LeaseError(ConflictError):
    """A worker's lease token is wrong or stale (the trial was requeued or finished). HTTP 409:
    the worker abandons the trial."""


class AuthError(HpoError):
    """Missing or wrong bearer token (HTTP 401), or a token without the right (HTTP 403)."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class AlreadyExistsError(ConflictError):
    """A row that must be unique already exists (a duplicate config, a reused trial number)."""


class StorageError(HpoError):
    """The database failed in a way the caller did not cause. Maps to HTTP 500."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or is busy (locked, connection lost). Maps to HTTP 503."""


def one_line(message: str) -> str:
    """A failure message on one line: a traceback's last line (the exception), else the
    message with its lines joined."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if len(lines) > 1 and lines[0].startswith("Traceback") else " ".join(lines)
