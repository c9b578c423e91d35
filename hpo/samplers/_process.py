"""Samplers that live in a child process, so their asks run off the caller's GIL.

The service's API process handles every claim, result and page on its threads, under one
GIL. A model-based sampler's ask (TPE's Parzen fit, LIPO's bounds, a GP's fit) is milliseconds
of Python per suggestion; with many workers the asks alone kept the API process at ~85 % of
one core while the machine's other core sat mostly idle (bench/sampler_dispatch.py, 32
workers, TPE). A `RemoteSampler` is the same sampler, built and kept in a `SamplerProcess`:
tell, extend and ask travel over a pipe as pickles (results, pending configurations,
suggestions: small), and while the child computes, the API's threads go on.

The child is a fresh interpreter (`python -m hpo.samplers._process FD`; never a `fork`: the
API process has threads and open database connections, and not multiprocessing's `spawn`,
which runs the parent's main module again) started on first use, off the caller's thread
(`warm_soon`: starting it and importing Optuna take about a second). It holds the samplers by
handle and exits when its socket closes (the parent exited, or was killed). A sampler's own
exception comes back as itself and is raised in the caller, as a local sampler's would be. A
child that dies or stops answering raises `SamplerProcessLost`, which says nothing about the
sampler: the caller rebuilds it locally (the service's sampler cache does) and the next use
starts a new child.
"""

from __future__ import annotations

import logging
import pickle
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

from hpo.samplers._base import Direction, Observation, Sampler, SamplerFactory
from hpo.samplers._registry import SamplerRegistry
from hpo.space import Params, SearchSpace

log = logging.getLogger("hpo.samplers.process")

# How long a call waits for the child's answer before calling it lost. Generous: a GP's ask
# at its cap costs seconds; a child that takes longer than this is stuck, not busy.
ANSWER_TIMEOUT_S = 120.0
# After a failed start, no new one for this long (each busy claim would otherwise try).
RETRY_START_AFTER_S = 30.0


def can_send(value: object) -> bool:
    """Whether `value` pickles (a sampler factory must, to be built in a sampler process)."""
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


class SamplerProcessLost(RuntimeError):
    """The child process died or stopped answering (not the sampler's fault)."""


class SamplerProcess:
    """One child process holding samplers by handle; calls are serialized (one pipe)."""

    def __init__(self, name: str = "hpo-sampler") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._next_handle = 0
        self._dropped: list[int] = []  # handles whose proxies are gone: sent with the next call
        self.started = 0  # children started so far (tests, logs)
        self.cpu_seconds = 0.0  # CPU the children spent on calls (the service's /metrics)
        self._warm: set[str] = set()  # samplers whose modules the current child has imported
        self._warming = False
        self._failed_at = -RETRY_START_AFTER_S  # the last failed start (monotonic)

    def create(
        self,
        registry_entry: SamplerFactory | str,
        name: str,
        space: SearchSpace,
        kwargs: Mapping[str, Any],
    ) -> RemoteSampler:
        """Build sampler `name` in the child from its registry entry (an import path, or a
        factory that pickles by reference) and the keyword arguments of `SamplerRegistry.create`."""
        with self._lock:
            handle = self._next_handle
            self._next_handle += 1
        args = (registry_entry, name, space, dict(kwargs))
        _, generation = self._call(("create", handle, args), None)
        return RemoteSampler(self, handle, generation)

    def is_warm(self, name: str) -> bool:
        """Whether the child runs and has imported sampler `name`'s module (creating one
        then costs milliseconds, not the interpreter's start and Optuna's import)."""
        return self.alive and name in self._warm

    def warm_soon(self, registry_entry: SamplerFactory | str, name: str) -> None:
        """Start the child and import sampler `name`'s module in it, on a thread of its own,
        so that no caller waits for it (a claim under its study's lock must not)."""
        with self._lock:
            if self._warming or time.monotonic() - self._failed_at < RETRY_START_AFTER_S:
                return
            self._warming = True

        def warm() -> None:
            try:
                self._call(("warm", -1, (registry_entry, name)), None)
                self._warm.add(name)
            except Exception as e:  # a later move tries again; the sampler stays here
                self._failed_at = time.monotonic()
                log.warning("%s: could not start: %s", self.name, e)
            finally:
                self._warming = False

        threading.Thread(target=warm, name=f"{self.name}-start", daemon=True).start()

    def drop(self, handle: int) -> None:
        """Forget a sampler (its proxy is gone); sent with the next call, not waited for."""
        self._dropped.append(handle)  # list.append is atomic: safe from a finalizer

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _call(self, message: tuple[Any, ...], generation: int | None) -> tuple[Any, int]:
        """Send one message, return the answer and the child's generation (the number of
        children started, so a sampler built in an earlier child is known to be lost)."""
        with self._lock:
            conn = self._ensure_started()
            if generation is not None and generation != self.started:
                raise SamplerProcessLost(f"{self.name} restarted: its samplers are lost")
            dropped, self._dropped = self._dropped, []
            try:
                payload = pickle.dumps((dropped, message), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as e:  # e.g. a factory that does not pickle: stays local
                self._dropped = dropped + self._dropped
                raise SamplerProcessLost(f"{self.name}: cannot send {message[0]}: {e}") from e
            try:
                conn.send_bytes(payload)
                if not conn.poll(ANSWER_TIMEOUT_S):
                    raise SamplerProcessLost(
                        f"{self.name}: no answer in {ANSWER_TIMEOUT_S:.0f} s to {message[0]}"
                    )
                ok, value, cpu_seconds = conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError) as e:
                self._stop()
                raise SamplerProcessLost(f"{self.name}: {type(e).__name__}: {e}") from e
            except SamplerProcessLost:
                self._stop()
                raise
            generation = self.started
            self.cpu_seconds += cpu_seconds
        if not ok:
            raise value
        return value, generation

    def _ensure_started(self) -> Connection:
        if self._conn is not None and self.alive:
            return self._conn
        self._stop()
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "hpo.samplers._process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except OSError as e:
            ours.close()
            raise SamplerProcessLost(f"{self.name}: cannot start: {e}") from e
        finally:
            theirs.close()  # the child holds its own copy: it sees EOF when we go
        self._conn, self._process = Connection(ours.detach()), process
        self.started += 1
        self._dropped = []  # the new child holds none of the old handles
        self._warm = set()
        log.info("%s: started child process %s", self.name, process.pid)
        return self._conn

    def _stop(self) -> None:
        conn, process = self._conn, self._process
        self._conn, self._process = None, None
        if conn is not None:
            conn.close()
        if process is not None:
            try:
                process.wait(timeout=2)  # it exits at EOF
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=2)


class RemoteSampler:
    """A sampler kept in a `SamplerProcess`: `tell`, `extend`, `ask` and `n_kept` as the
    sampler's own (an `IncrementalSampler`). Raises `SamplerProcessLost` when the child is
    gone, including one restarted since this sampler was built (it lost the sampler)."""

    def __init__(self, process: SamplerProcess, handle: int, generation: int) -> None:
        self._process = process
        self._handle = handle
        self._generation = generation
        self._n_kept = 0
        weakref.finalize(self, process.drop, handle)

    def tell(self, completed: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        self._n_kept = self._call("tell", list(completed), list(pending))

    def extend(self, new: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        self._n_kept = self._call("extend", list(new), list(pending))

    def ask(self, n: int = 1) -> list[Params]:
        suggestions: list[Params] = self._call("ask", n)
        return suggestions

    @property
    def n_kept(self) -> int:
        return self._n_kept

    def _call(self, op: str, *args: Any) -> Any:
        value, _ = self._process._call((op, self._handle, args), self._generation)
        return value


class SamplerProcesses:
    """A fixed set of child processes; a study's samplers always go to the same one."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError("at least one sampler process")
        self._processes = [SamplerProcess(f"hpo-sampler-{i}") for i in range(n)]

    def for_study(self, study_id: int) -> SamplerProcess:
        return self._processes[study_id % len(self._processes)]

    def close(self) -> None:
        for process in self._processes:
            process.close()

    @property
    def started(self) -> int:
        return sum(p.started for p in self._processes)

    @property
    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each process's children spent answering calls, by process name."""
        return {p.name: p.cpu_seconds for p in self._processes}


def create_in_child(
    registry_entry: SamplerFactory | str,
    name: str,
    space: SearchSpace,
    kwargs: Mapping[str, Any],
) -> Sampler:
    """What the child does with a create message (and what the parent checks first)."""
    direction: Direction = kwargs.get("direction", "minimize")
    return SamplerRegistry({name: registry_entry}).create(
        name,
        space,
        direction=direction,
        seed=int(kwargs.get("seed", 0)),
        options=kwargs.get("options"),
        directions=kwargs.get("directions"),
        n_constraints=int(kwargs.get("n_constraints", 0)),
    )


def _serve(conn: Connection) -> None:
    """The child's loop: one message, one answer, until the pipe closes."""
    samplers: dict[int, Any] = {}
    while True:
        try:
            dropped, (op, handle, args) = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        started = time.process_time()
        for gone in dropped:
            samplers.pop(gone, None)
        try:
            if op == "create":
                samplers[handle] = create_in_child(*args)
                value: Any = None
            elif op == "warm":  # import the sampler's module now, before the first create
                entry, name = args
                SamplerRegistry({name: entry}).factory(name)
                value = None
            elif op == "ask":
                value = samplers[handle].ask(*args)
            else:  # tell / extend: answer with what the sampler now keeps
                sampler = samplers[handle]
                getattr(sampler, op)(*args)
                value = int(getattr(sampler, "n_kept", 0))
            ok: bool = True
        except Exception as e:  # the sampler's own error: raised again in the parent
            ok, value = False, _portable(e)
        cpu_seconds = time.process_time() - started
        try:
            conn.send((ok, value, cpu_seconds))
        except (pickle.PicklingError, TypeError, AttributeError) as e:  # an unpicklable value
            try:
                conn.send((False, RuntimeError(f"{type(e).__name__}: {e}"), cpu_seconds))
            except (EOFError, OSError):
                return
        except (EOFError, OSError):
            return


def _portable(error: Exception) -> Exception:
    """The error itself when it survives a pickle round trip (an exception class whose
    constructor takes other arguments than its message does not), else its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
