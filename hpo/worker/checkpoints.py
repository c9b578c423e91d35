"""A trial attempt's files and the artifact store: its checkpoint directory uploaded as it
changes, restored into a requeued attempt, and what a completed attempt leaves as outputs.

Checkpoint files are the artifacts `checkpoint/<path inside the directory>`; outputs are
`output/<path>`. A script should write each file whole under a hidden name (`.state.tmp`)
and rename it: hidden files are never uploaded, so an upload never catches a half-written
file under its real name.

    sync = CheckpointSync(client, trial_id, lease_token, checkpoint_dir)
    sync.start()          # every `every_seconds`: upload what changed
    sync.sync()           # after each report: upload what changed now
    sync.close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from hpo.artifacts import CHECKPOINT_PREFIX, OUTPUT_PREFIX, validate_name
from hpo.client import ApiError, Client
from hpo.errors import HpoError, ValidationError

log = logging.getLogger("hpo.worker")

_LEASE_GONE = frozenset({404, 409})


def _files(directory: Path) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of each file to keep, hidden files and bad names skipped."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(directory).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        try:
            validate_name(relative)
        except ValidationError as e:
            log.warning("not uploading %s: %s", path, e)
            continue
        yield relative, path


class CheckpointSync(threading.Thread):
    """Uploads what changed (size or modification time) in one attempt's checkpoint directory."""

    def __init__(
        self,
        client: Client,
        trial_id: int,
        token: str,
        directory: Path,
        *,
        every_seconds: float | None = 30.0,
        before_upload: Callable[[], bool] | None = None,
    ) -> None:
        """`every_seconds` None: no timer (only `sync` uploads). `before_upload`: called
        before the first upload of a sync (the attempt's reports flushed, so a checkpoint
        never gets ahead of them); False: upload nothing this time."""
        super().__init__(name=f"checkpoints-{trial_id}", daemon=True)
        self.client, self.trial_id, self.token = client, trial_id, token
        self.directory, self.every_seconds = directory, every_seconds
        self.before_upload = before_upload
        self._seen: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()  # one sync at a time (the timer's and a report's)
        self._done = threading.Event()
        self.gone = False
        self.uploads = 0

    def mark_restored(self) -> None:
        """What is in the directory now came from the store: nothing to upload yet."""
        with self._lock:
            for name, path in _files(self.directory):
                stat = path.stat()
                self._seen[name] = (stat.st_size, stat.st_mtime_ns)

    def sync(self) -> int:
        """Upload every file that changed since its last upload; returns how many went up.
        Never raises for the network: a failed upload is tried again next time."""
        if self.gone:
            return 0
        sent = 0
        with self._lock:
            for name, path in _files(self.directory):
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # replaced while we looked: the next sync sees the new one
                key = (stat.st_size, stat.st_mtime_ns)
                if self._seen.get(name) == key:
                    continue
                if sent == 0 and self.before_upload is not None and not self.before_upload():
                    break  # the reports did not land: this checkpoint waits for them
                if not self._upload(CHECKPOINT_PREFIX + name, path):
                    break
                self._seen[name] = key
                sent += 1
        self.uploads += sent
        return sent

    def _upload(self, name: str, path: Path) -> bool:
        try:
            self.client.put_artifact(self.trial_id, self.token, name, path)
        except ApiError as e:
            if e.status in _LEASE_GONE:
                self.gone = True
            else:
                log.warning("trial %s: checkpoint %s refused: %s", self.trial_id, name, e)
            return False
        except (HpoError, OSError) as e:
            log.warning("trial %s: checkpoint %s not uploaded yet: %s", self.trial_id, name, e)
            return False
        return True

    def run(self) -> None:
        if self.every_seconds is None:
            return
        while not self._done.wait(self.every_seconds):
            self.sync()

    def close(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(5.0)


def restore_checkpoint(client: Client, trial_id: int, token: str, directory: Path) -> int:
    """Download the trial's latest checkpoint (what an earlier attempt uploaded) into
    `directory`; returns the number of files. A trial with none restores nothing."""
    restored = 0
    for row in client.list_artifacts(trial_id, CHECKPOINT_PREFIX, token=token):
        name = str(row["name"])
        relative = validate_name(name.removeprefix(CHECKPOINT_PREFIX))
        client.download_artifact(trial_id, name, directory / relative, token=token)
        restored += 1
    return restored


def upload_outputs(client: Client, trial_id: int, token: str, directory: Path) -> int:
    """Upload every file in `directory` as the trial's `output/...` artifacts (before its
    result is sent: the lease must still be the attempt's); returns how many."""
    sent = 0
    for name, path in _files(directory):
        try:
            client.put_artifact(trial_id, token, OUTPUT_PREFIX + name, path)
        except ApiError as e:
            if e.status in _LEASE_GONE:
                return sent
            log.warning("trial %s: output %s refused: %s", trial_id, name, e)
            continue
        sent += 1
    return sent
