"""Trial logs: append a chunk of lines to an attempt's log, drop the oldest lines past a cap,
read what is kept. The caller holds the trial's row lock (`lock_trial`) while appending, so two
appends to one attempt never interleave."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hpo.storage.models import TrialLog, TrialLogChunk


@dataclass(frozen=True)
class KeptLog:
    """What is kept of one attempt's log: `text` from byte `start` (of all it ever received)
    to `end`; `dropped_lines`/`dropped_bytes` were trimmed off the front."""

    attempt: int
    text: str
    start: int
    end: int
    dropped_lines: int
    dropped_bytes: int


def log_attempts(session: Session, trial_id: int) -> list[int]:
    statement = select(TrialLog.attempt).where(TrialLog.trial_id == trial_id)
    return sorted(session.scalars(statement))


def _header(session: Session, trial_id: int, attempt: int) -> TrialLog | None:
    statement = select(TrialLog).where(TrialLog.trial_id == trial_id, TrialLog.attempt == attempt)
    return session.scalars(statement).one_or_none()


def append_log(session: Session, trial_id: int, attempt: int, text: str, max_bytes: int) -> int:
    """Append `text` to the attempt's log, then trim it to its last `max_bytes` (whole lines
    dropped from the front). Returns the log's end offset."""
    log = _header(session, trial_id, attempt)
    if log is None:
        log = TrialLog(
            trial_id=trial_id, attempt=attempt, total_bytes=0, dropped_bytes=0, dropped_lines=0
        )
        session.add(log)
        session.flush()
    size = len(text.encode())
    if size:
        session.add(TrialLogChunk(log_id=log.id, offset=log.total_bytes, n_bytes=size, text=text))
        log.total_bytes += size
        session.flush()
        _trim(session, log, max_bytes)
    return log.total_bytes


def _trim(session: Session, log: TrialLog, max_bytes: int) -> None:
    kept = log.total_bytes - log.dropped_bytes
    if kept <= max_bytes:
        return
    sizes = session.execute(
        select(TrialLogChunk.id, TrialLogChunk.n_bytes)
        .where(TrialLogChunk.log_id == log.id)
        .order_by(TrialLogChunk.offset)
    ).all()
    whole: list[int] = []
    for chunk_id, n_bytes in sizes:
        excess = kept - max_bytes
        if excess <= 0:
            break
        if n_bytes <= excess:
            whole.append(chunk_id)
            kept -= n_bytes
            continue
        # The oldest chunk kept: drop its first lines, enough to fit.
        chunk = session.get_one(TrialLogChunk, chunk_id)
        data = chunk.text.encode()
        cut = data.find(b"\n", excess - 1)
        if cut < 0 or cut + 1 == len(data):
            # No line ends early enough to keep a part: the whole chunk goes.
            whole.append(chunk_id)
            kept -= n_bytes
            continue
        dropped = cut + 1
        log.dropped_lines += data[:dropped].count(b"\n")
        kept -= dropped
        chunk.text = data[dropped:].decode()
        chunk.offset += dropped
        chunk.n_bytes -= dropped
        break
    if whole:
        lines = session.execute(
            select(TrialLogChunk.text).where(TrialLogChunk.id.in_(whole))
        ).scalars()
        log.dropped_lines += sum(_count_lines(text) for text in lines)
        session.execute(delete(TrialLogChunk).where(TrialLogChunk.id.in_(whole)))
    log.dropped_bytes = log.total_bytes - kept


def _count_lines(text: str) -> int:
    # A chunk ends with a newline unless its last line was sent in two pieces.
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def read_log(session: Session, trial_id: int, attempt: int, since: int = 0) -> KeptLog:
    """The kept text of the attempt's log from byte `since` on (from what is kept, if that
    was dropped); an attempt that logged nothing reads as empty."""
    log = _header(session, trial_id, attempt)
    if log is None:
        return KeptLog(attempt, "", 0, 0, 0, 0)
    start = max(since, log.dropped_bytes)
    rows = session.execute(
        select(TrialLogChunk.offset, TrialLogChunk.text)
        .where(TrialLogChunk.log_id == log.id, TrialLogChunk.offset + TrialLogChunk.n_bytes > start)
        .order_by(TrialLogChunk.offset)
    ).all()
    parts = []
    for offset, text in rows:
        if offset < start:
            # `since` falls inside this chunk: bytes, not characters, count offsets.
            text = text.encode()[start - offset :].decode(errors="replace")
        parts.append(text)
    return KeptLog(
        attempt, "".join(parts), start, log.total_bytes, log.dropped_lines, log.dropped_bytes
    )


def log_bytes(session: Session, trial_id: int) -> int:
    """Bytes kept across the trial's attempts (for tests and the UI)."""
    statement = (
        select(func.coalesce(func.sum(TrialLogChunk.n_bytes), 0))
        .join(TrialLog, TrialLog.id == TrialLogChunk.log_id)
        .where(TrialLog.trial_id == trial_id)
    )
    return int(session.execute(statement).scalar_one())
