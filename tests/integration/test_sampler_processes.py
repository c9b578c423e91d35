"""Busy studies' samplers in a sampler process (issue 12), on real databases: a study with
many pending trials moves its model-based sampler to a child process and goes on suggesting
exactly what it would have suggested in process; a child that dies costs nothing but its head
start (the sampler is rebuilt in process, the study is not paused); and the child never
outlives the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest

from hpo.errors import ValidationError
from hpo.samplers import default_registry
from hpo.samplers._process import SamplerProcess, SamplerProcessLost
from hpo.samplers.testing import SPACE as CONTRACT_SPACE
from hpo.samplers.testing import history
from hpo.service import Lease, Service
from hpo.service.dispatch.sampler_cache import BUSY_PENDING
from hpo.spec import StudySpec
from hpo.storage import Database, StudyState
from tests.integration.factories import cache_spec, cache_value

pytestmark = pytest.mark.integration

HELD = BUSY_PENDING + 2  # trials running at once: a busy study


def _spec(sampler: str, name: str) -> StudySpec:
    return cache_spec(sampler, n_trials=200, max_parallel=40, name=name, seed=11)


_value = cache_value


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _run(
    service: Service, study_id: int, rounds: int, *, at_round: Callable[[int], None]
) -> list[dict[str, Any]]:
    """HELD trials running; each round completes the oldest and claims one more."""
    held: list[Lease] = [service.dispatch.ask(study_id) for _ in range(HELD)]
    suggested = [lease.params for lease in held]
    for i in range(rounds):
        at_round(i)
        lease = held.pop(0)
        service.dispatch.complete(lease.trial_id, lease.lease_token, _value(lease.params))
        held.append(service.dispatch.ask(study_id))
        suggested.append(held[-1].params)
    return suggested


def _metric(service: Service, name: str) -> float:
    for line in service.metrics_text().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("sampler", ["tpe", "lipo"])
def test_a_busy_study_moves_to_a_sampler_process_and_suggests_the_same(
    fresh_db: Database, sampler: str
) -> None:
    """The same schedule in process and with a sampler process: the same configurations in
    the same order (the samplers are deterministic in their history, wherever they run), and
    the busy study's sampler did move; its CPU shows in /metrics."""
    local = Service(fresh_db)
    local.suggestions.prefetcher = None  # claims ask themselves: a deterministic schedule
    study = local.studies.create(_spec(sampler, "local"))
    expected = _run(local, study.id, 30, at_round=lambda i: None)

    remote = Service(fresh_db, sampler_processes=1)
    remote.suggestions.prefetcher = None
    try:
        study = remote.studies.create(_spec(sampler, "remote"))
        processes = remote.suggestions.processes
        assert processes is not None
        process = processes.for_study(study.id)

        def once_warm(i: int) -> None:
            if i == 0:  # the first busy refresh started the child: let it come up
                _wait(lambda: process.is_warm(sampler))

        assert _run(remote, study.id, 30, at_round=once_warm) == expected
        entry = remote.suggestions.cache._entries[study.id]
        assert entry.remote and remote.suggestions.cache.moved == 1
        assert _metric(remote, "hpo_sampler_process_moves_total") == 1
        assert _metric(remote, "hpo_sampler_process_cpu_seconds") > 0
    finally:
        remote.suggestions.close()
    assert not process.alive


def test_a_dead_sampler_process_costs_the_study_nothing(fresh_db: Database) -> None:
    """The child is killed while the study's sampler lives in it: the next claim rebuilds
    the sampler in process from the database and suggests what the in-process run did; the
    study keeps running (a lost process is not the sampler's failure)."""
    local = Service(fresh_db)
    local.suggestions.prefetcher = None
    study = local.studies.create(_spec("tpe", "local"))
    expected = _run(local, study.id, 24, at_round=lambda i: None)

    remote = Service(fresh_db, sampler_processes=1)
    remote.suggestions.prefetcher = None
    try:
        study = remote.studies.create(_spec("tpe", "remote"))
        processes = remote.suggestions.processes
        assert processes is not None
        process = processes.for_study(study.id)

        def kill_midway(i: int) -> None:
            if i == 0:
                _wait(lambda: process.is_warm("tpe"))
            if i == 12:
                assert remote.suggestions.cache._entries[study.id].remote
                assert process.pid is not None
                os.kill(process.pid, signal.SIGKILL)
                _wait(lambda: not process.alive)

        assert _run(remote, study.id, 24, at_round=kill_midway) == expected
        entry = remote.suggestions.cache._entries[study.id]
        assert not entry.remote and entry.stay_local
        assert remote.suggestions.cache.lost == 1
        assert _metric(remote, "hpo_sampler_process_losses_total") == 1
        assert remote.studies.get(study.id).state is StudyState.RUNNING
    finally:
        remote.suggestions.close()


def test_a_sampler_that_cannot_travel_stays_in_process(fresh_db: Database) -> None:
    """A sampler registered as a factory that does not pickle (a lambda, here in place of the
    built-in TPE) is never sent to a sampler process: it keeps working in process, and no
    study is paused."""
    tpe = default_registry().factory("tpe")
    registry = default_registry().with_sampler("tpe", lambda space, **kw: tpe(space, **kw))
    service = Service(fresh_db, registry=registry, sampler_processes=1)
    service.suggestions.prefetcher = None
    try:
        study = service.studies.create(_spec("tpe", "lambda"))
        processes = service.suggestions.processes
        assert processes is not None
        suggested = _run(service, study.id, 6, at_round=lambda i: None)
        assert len({str(p) for p in suggested}) == len(suggested)
        entry = service.suggestions.cache._entries[study.id]
        assert not entry.remote and entry.stay_local
        assert processes.started == 0  # no child was started for it
        assert service.studies.get(study.id).state is StudyState.RUNNING
    finally:
        service.suggestions.close()


def test_the_process_answers_as_the_sampler_would() -> None:
    """Without a database: a remote sampler's tell/extend/ask equal a local one's, its own
    error comes back as itself and leaves the child serving, and `close` ends the child."""
    registry = default_registry()
    process = SamplerProcess("test-sampler")
    try:
        remote = process.create(
            registry.entry("tpe"), "tpe", CONTRACT_SPACE, {"direction": "minimize", "seed": 5}
        )
        local = registry.create("tpe", CONTRACT_SPACE, direction="minimize", seed=5)
        observations = history(30)
        pending = [o.params for o in history(4, seed=3)]
        for sampler in (remote, local):
            sampler.tell(observations[:20], pending)
            sampler.extend(observations[20:], pending)  # type: ignore[attr-defined]
        assert remote.ask(3) == local.ask(3)
        assert remote.n_kept == 30
        with pytest.raises(ValidationError, match="ask needs n >= 1"):
            remote.ask(0)
        assert remote.ask(1) == local.ask(1)  # still serving
        assert process.cpu_seconds > 0
    finally:
        process.close()
    assert not process.alive
    with pytest.raises(SamplerProcessLost):
        remote.ask(1)  # a new child does not hold the old one's samplers


def test_the_child_does_not_outlive_a_killed_parent() -> None:
    """A parent SIGKILLed (no shutdown code runs) leaves no sampler process behind: the
    child sees its socket close and exits."""
    script = textwrap.dedent(
        """
        import sys, time
        from hpo.samplers._process import SamplerProcess
        process = SamplerProcess()
        process.warm_soon("hpo.samplers._random:RandomSampler", "random")
        while not process.is_warm("random"):
            time.sleep(0.05)
        print(process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        # A zombie (exited, not yet reaped by init) counts as gone.
        with open(f"/proc/{child}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")

    _wait(gone, timeout=20)
