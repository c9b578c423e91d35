"""A trial attempt's output, streamed to the server: lines go into a bounded buffer, a thread
sends them in chunks (every `flush_seconds`, or as soon as a chunk's worth is waiting), with
the attempt's lease token, as reports are sent.

    streamer = LogStreamer(client, trial_id, lease_token)
    streamer.start()
    streamer.line("epoch 1: val_accuracy=0.61")   # any thread: a script's stdout/stderr reader
    streamer.close()                             # sends what is left, then stops

Nothing here blocks the caller on the network. While the API is unreachable the buffer keeps
the newest `max_buffer_bytes` and counts what it dropped (a marker line says so when sending
resumes); once the lease is gone (409/404) the rest is discarded: the attempt is not ours.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from hpo.client import ApiError, Client
from hpo.errors import HpoError

log = logging.getLogger("hpo.worker")

_LEASE_GONE = frozenset({404, 409})
MAX_LINE_BYTES = 64 << 10  # a longer line is cut: one runaway line must not be a whole chunk


class LogStreamer(threading.Thread):
    def __init__(
        self,
        client: Client,
        trial_id: int,
        token: str,
        *,
        flush_seconds: float = 1.0,
        chunk_bytes: int = 256 << 10,
        max_buffer_bytes: int = 1 << 20,
    ) -> None:
        super().__init__(name=f"logs-{trial_id}", daemon=True)
        self.client, self.trial_id, self.token = client, trial_id, token
        self.flush_seconds, self.chunk_bytes = flush_seconds, chunk_bytes
        self.max_buffer_bytes = max_buffer_bytes
        self._lines: deque[str] = deque()
        self._buffered = 0
        self._dropped = 0
        self._wake = threading.Condition()
        self._closing = False
        self._gone = False
        self.sent_bytes = 0

    def line(self, text: str) -> None:
        """Queue one line of output (a trailing newline is added when missing)."""
        if self._gone:
            return
        if len(text) > MAX_LINE_BYTES:
            text = text[:MAX_LINE_BYTES] + " [hpo: line cut]"
        if not text.endswith("\n"):
            text += "\n"
        size = len(text.encode())
        with self._wake:
            self._lines.append(text)
            self._buffered += size
            while self._buffered > self.max_buffer_bytes and len(self._lines) > 1:
                self._buffered -= len(self._lines.popleft().encode())
                self._dropped += 1
            if self._buffered >= self.chunk_bytes:
                self._wake.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is buffered (a few tries) and stop the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while True:
            with self._wake:
                if not self._closing and self._buffered < self.chunk_bytes:
                    self._wake.wait(self.flush_seconds)
                closing = self._closing
            while self._send_one_chunk():
                pass
            if closing or self._gone:
                return

    def _take_chunk(self) -> str:
        with self._wake:
            parts: list[str] = []
            if self._dropped:
                parts.append(
                    f"[hpo: {self._dropped} lines dropped while the API was unreachable]\n"
                )
                self._dropped = 0
            size = 0
            while self._lines and (not parts or size < self.chunk_bytes):
                text = self._lines.popleft()
                size += len(text.encode())
                parts.append(text)
            self._buffered = max(0, self._buffered - size)
            return "".join(parts)

    def _put_back(self, chunk: str) -> None:
        with self._wake:
            self._lines.appendleft(chunk)
            self._buffered += len(chunk.encode())

    def _send_one_chunk(self) -> bool:
        """Send one chunk; True if one was sent and more may follow."""
        chunk = self._take_chunk()
        if not chunk:
            return False
        try:
            self.client.append_log(self.trial_id, self.token, chunk)
        except ApiError as e:
            if e.status in _LEASE_GONE:
                self._gone = True
                return False
            log.warning("trial %s: a log chunk was refused (%s); dropped", self.trial_id, e)
            return True
        except HpoError:
            # Unreachable: keep it for the next flush (the buffer stays bounded).
            self._put_back(chunk)
            return False
        self.sent_bytes += len(chunk.encode())
        return True
