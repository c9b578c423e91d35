"""The fields of a claim (worker id, host, devices), checked against the columns that store
them before the claim joins a batch.

Claims are served in batches, one transaction for several workers (`combining`): a value the
database refuses (PostgreSQL: a string longer than its column, a NUL byte) would fail the
whole batch, i.e. other workers' claims. So every field is checked here first, with
the limits read from the SQLAlchemy columns themselves (a column widened by a migration
widens the check with it), and refused with a message naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Column, String

from hpo.errors import ValidationError
from hpo.storage import Trial, Worker

# Devices a worker may name: more is not a worker, and each costs a JSON element per claim.
MAX_DEVICES = 64


def _length(column: object) -> int:
    kind = cast(Column[str], column).type
    if not isinstance(kind, String) or kind.length is None:  # pragma: no cover - schema change
        raise TypeError(f"{column} is not a bounded string column")
    return kind.length


@dataclass(frozen=True)
class ClaimFieldLimits:
    """Longest value of each field: the narrowest column it is stored in."""

    worker_id: int
    host: int
    device: int

    @classmethod
    def from_columns(cls) -> ClaimFieldLimits:
        return cls(
            worker_id=min(_length(Worker.__table__.c.id), _length(Trial.__table__.c.worker_id)),
            host=_length(Worker.__table__.c.host),
            # The first device goes to trials.device; every one is a device name all the same.
            device=_length(Trial.__table__.c.device),
        )


LIMITS = ClaimFieldLimits.from_columns()


def _check_text(field: str, value: str, longest: int, *, required: bool) -> None:
    if required and not value:
        raise ValidationError(f"{field} is empty: give the worker a name (hpo worker --worker-id)")
    if len(value) > longest:
        raise ValidationError(
            f"{field} is {len(value)} characters long: at most {longest} are stored; shorten it"
        )
    if not value.isprintable():
        # NUL, control characters, bidi overrides: PostgreSQL refuses NUL outright, and the
        # others make the workers page lie about who holds a trial.
        raise ValidationError(
            f"{field} {value[:40]!r} holds a control or invisible character: use printable "
            "characters only"
        )


def check_claim_fields(worker_id: str, host: str, devices: Sequence[str]) -> None:
    """Raise `ValidationError` naming the first field that the database could not store."""
    _check_text("worker_id", worker_id, LIMITS.worker_id, required=True)
    _check_text("host", host, LIMITS.host, required=False)
    if len(devices) > MAX_DEVICES:
        raise ValidationError(
            f"devices lists {len(devices)} devices: at most {MAX_DEVICES} per worker"
        )
    for i, device in enumerate(devices):
        _check_text(f"devices[{i}]", device, LIMITS.device, required=False)
