"""Trial logs: what a worker streams of each attempt (a command's stdout and stderr, a
built-in trainer's epochs), kept to the last `max_bytes` per attempt.

A worker appends with the trial's lease token (only the attempt that holds the lease writes
its log); anyone who may read the study reads it, whole, by its last lines (`tail`) or from
an offset it already has (`since`, how `hpo logs --follow` asks only for what is new).
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo.errors import NotFoundError, ValidationError
from hpo.service.dispatch.leases import check_token
from hpo.storage import Database, Trial
from hpo.storage import repositories as repo


@dataclass(frozen=True)
class LogText:
    """`text`: the log (with a marker line first when older lines were dropped and the
    answer starts at what is kept); `end`: the byte offset to ask `since` next time;
    `attempts`: every attempt of the trial that has a log; `state`: the trial's, so a
    follower knows when no more is coming."""

    trial_id: int
    state: str
    attempt: int
    text: str
    end: int
    attempts: tuple[int, ...]


def dropped_marker(lines: int, n_bytes: int, max_bytes: int) -> str:
    return (
        f"[hpo: {lines} earlier lines ({n_bytes} bytes) dropped: the last {max_bytes} bytes "
        "of each attempt's output are kept]\n"
    )


class TrialLogs:
    def __init__(self, db: Database, *, max_bytes: int = 1 << 20) -> None:
        self.db = db
        self.max_bytes = max_bytes

    def append(self, trial_id: int, token: str, text: str) -> int:
        """Append to the log of the attempt that holds `token`; returns the log's end offset.
        Taken after the attempt ended too (pruned, completed): its last lines are sent after
        its last report; a requeued attempt's old token is refused (409)."""
        with self.db.transaction() as session:
            trial = repo.lock_trial(session, trial_id)
            check_token(trial, token, "log for")
            return repo.append_log(session, trial.id, trial.attempt, text, self.max_bytes)

    def read(
        self,
        trial_id: int,
        *,
        attempt: int | None = None,
        tail: int | None = None,
        since: int = 0,
    ) -> LogText:
        """The log of `attempt` (default: the latest attempt that logged, else the current)."""
        if tail is not None and tail < 0:
            raise ValidationError(f"tail must be >= 0 lines, got {tail}")
        if since < 0:
            raise ValidationError(f"since must be a byte offset >= 0, got {since}")
        with self.db.transaction(write=False) as session:
            trial = session.get(Trial, trial_id)
            if trial is None:
                raise NotFoundError(f"trial {trial_id} not found; list a study's trials first")
            attempts = tuple(repo.log_attempts(session, trial_id))
            chosen = (
                attempt if attempt is not None else (attempts[-1] if attempts else trial.attempt)
            )
            if attempt is not None and not 1 <= attempt <= trial.attempt:
                raise NotFoundError(
                    f"trial {trial_id} has attempts 1 to {trial.attempt}, not {attempt}"
                )
            kept = repo.read_log(session, trial_id, chosen, since)
            state = str(trial.state)
        text = kept.text
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[len(lines) - tail :]) if tail else ""
            starts_at_kept = tail >= len(lines)
        else:
            starts_at_kept = True
        if kept.dropped_bytes and since <= kept.dropped_bytes and starts_at_kept:
            text = dropped_marker(kept.dropped_lines, kept.dropped_bytes, self.max_bytes) + text
        return LogText(trial_id, state, chosen, text, kept.end, attempts)
