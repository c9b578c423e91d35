"""The combiner: requests that arrive while a batch runs are served by the next batch."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from hpo.service.dispatch.combining import Combiner


class Gate:
    """A batch function whose first batch waits until the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.open = threading.Event()

    def __call__(self, requests: Sequence[int]) -> list[int]:
        self.batches.append(list(requests))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.open.wait(10)
        return [r * 10 for r in requests]


def test_a_lone_request_runs_at_once_as_a_batch_of_one() -> None:
    def plus_one(requests: Sequence[int]) -> list[int]:
        return [r + 1 for r in requests]

    combiner: Combiner[int, int] = Combiner(plus_one)
    assert combiner.submit(1) == 2
    assert combiner.submit(5) == 6
    assert (combiner.batches, combiner.requests) == (2, 2)


def _run_queued_behind_a_blocked_batch(
    combiner: Combiner[int, int], gate: Gate, n: int
) -> dict[int, int]:
    """Request 0 starts a batch that blocks; requests 1..n queue behind it; then the gate
    opens. Returns every request's answer."""
    answers: dict[int, int] = {}

    def submit(value: int) -> None:
        answers[value] = combiner.submit(value)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert gate.first_started.wait(10)
    others = [threading.Thread(target=submit, args=(v,)) for v in range(1, n + 1)]
    for t in others:
        t.start()
    for _ in range(1000):  # until all of them are queued behind the running batch
        if len(combiner._queue) == n:
            break
        threading.Event().wait(0.01)
    assert len(combiner._queue) == n
    gate.open.set()
    for t in [first, *others]:
        t.join(10)
    return answers


def test_requests_arriving_during_a_batch_are_served_together_by_the_next() -> None:
    gate = Gate()
    combiner: Combiner[int, int] = Combiner(gate)
    answers = _run_queued_behind_a_blocked_batch(combiner, gate, 8)
    assert answers == {v: v * 10 for v in range(9)}
    assert gate.batches[0] == [0]
    assert sorted(gate.batches[1]) == list(range(1, 9))
    assert (combiner.batches, combiner.requests) == (2, 9)


def test_batches_are_capped_and_the_lead_passes_on_until_the_queue_is_empty() -> None:
    gate = Gate()
    combiner: Combiner[int, int] = Combiner(gate, max_batch=3)
    answers = _run_queued_behind_a_blocked_batch(combiner, gate, 7)
    assert answers == {v: v * 10 for v in range(8)}
    assert [len(b) for b in gate.batches] == [1, 3, 3, 1]
    assert not combiner._running and not combiner._queue


def test_an_error_reaches_every_request_of_its_batch_and_the_next_batch_still_runs() -> None:
    calls: list[list[int]] = []

    def flaky(requests: Sequence[int]) -> list[int]:
        calls.append(list(requests))
        if len(calls) == 1:
            raise ValueError("database unavailable")
        return list(requests)

    combiner: Combiner[int, int] = Combiner(flaky)
    with pytest.raises(ValueError, match="unavailable"):
        combiner.submit(1)
    assert combiner.submit(2) == 2


def test_a_wrong_number_of_answers_is_an_error_not_a_silent_mismatch() -> None:
    combiner: Combiner[int, int] = Combiner(lambda requests: [])
    with pytest.raises(RuntimeError, match="1 requests got 0 answers"):
        combiner.submit(1)


def _hammer(combiner: Combiner[int, int], threads: int, each: int) -> dict[int, int]:
    """`threads` threads submitting `each` requests one after the other; every answer."""
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def submit(value: int) -> None:
        for k in range(each):
            got = combiner.submit(value * 100 + k)
            with lock:
                answers[value * 100 + k] = got

    workers = [threading.Thread(target=submit, args=(v,)) for v in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    return answers


def test_many_threads_each_get_their_own_answer() -> None:
    combiner: Combiner[int, int] = Combiner(lambda requests: [r * r for r in requests])
    answers = _hammer(combiner, 16, 50)
    assert answers == {v: v * v for v in answers} and len(answers) == 800
    assert combiner.requests == 800


def test_a_slow_batch_does_not_hold_up_others_when_several_may_run() -> None:
    """With max_running 2, a request arriving while one batch is stuck runs at once (a slow
    sampler's ask on one study must not stop the claims of the others); with 1 it queues."""
    gate = Gate()
    combiner: Combiner[int, int] = Combiner(gate, max_running=2)
    stuck = threading.Thread(target=combiner.submit, args=(0,))
    stuck.start()
    assert gate.first_started.wait(10)
    assert combiner.submit(1) == 10  # served while batch 0 is still blocked
    assert combiner.submit(2) == 20
    gate.open.set()
    stuck.join(10)
    assert gate.batches == [[0], [1], [2]]
    assert combiner._running == 0


def test_many_threads_with_several_leaders_each_get_their_own_answer_once() -> None:
    served: list[int] = []
    lock = threading.Lock()

    def square(requests: Sequence[int]) -> list[int]:
        with lock:
            served.extend(requests)
        threading.Event().wait(0.001)  # let others queue
        return [r * r for r in requests]

    combiner: Combiner[int, int] = Combiner(square, max_batch=4, max_running=3)
    answers = _hammer(combiner, 12, 40)
    assert answers == {v: v * v for v in answers} and len(answers) == 480
    assert sorted(served) == sorted(answers)  # each request in exactly one batch
    assert combiner.requests == 480 and combiner._running == 0 and not combiner._queue


class Poisoned(Gate):
    """A batch fails whenever it holds request 13 (a value the database refuses, say)."""

    def __call__(self, requests: Sequence[int]) -> list[int]:
        answers = super().__call__(requests)
        if 13 in requests:
            raise ValueError("request 13 cannot be stored")
        return answers


def _answers_behind_a_blocked_batch(
    combiner: Combiner[int, int], gate: Gate, queued: Sequence[int]
) -> dict[int, object]:
    """Request 0 blocks the first batch; `queued` wait behind it, then run as one batch.
    Every request's answer, or its exception."""
    answers: dict[int, object] = {}

    def submit(value: int) -> None:
        try:
            answers[value] = combiner.submit(value)
        except ValueError as e:
            answers[value] = e

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert gate.first_started.wait(10)
    others = [threading.Thread(target=submit, args=(v,)) for v in queued]
    for t in others:
        t.start()
    for _ in range(1000):
        if len(combiner._queue) == len(queued):
            break
        threading.Event().wait(0.01)
    gate.open.set()
    for t in [first, *others]:
        t.join(10)
    assert sorted(gate.batches[1]) == sorted(queued)  # they did share a batch
    return answers


def test_one_requests_failure_never_fails_the_others_of_its_batch() -> None:
    gate = Poisoned()
    answers = _answers_behind_a_blocked_batch(Combiner(gate), gate, (11, 12, 13, 14))
    assert isinstance(answers.pop(13), ValueError)
    assert answers == {0: 0, 11: 110, 12: 120, 14: 140}
    assert sorted(map(tuple, gate.batches[2:])) == [(11,), (12,), (13,), (14,)]  # alone


def test_a_batch_is_not_rerun_alone_when_the_error_says_so() -> None:
    """The database down: rerunning each member would only fail each again."""
    gate = Poisoned()
    combiner: Combiner[int, int] = Combiner(gate, rerun_alone=lambda e: "13" not in str(e))
    answers = _answers_behind_a_blocked_batch(combiner, gate, (12, 13))
    assert isinstance(answers[12], ValueError) and isinstance(answers[13], ValueError)
    assert len(gate.batches) == 2
