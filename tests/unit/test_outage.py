"""The worker's outage bookkeeping: said at the start and once a minute, given up when told,
forgotten at the first answer (issue 11, defect 10)."""

from __future__ import annotations

import logging

import pytest

from hpo.outage import ApiGaveUp, Outage, duration

URL = "http://api:8000"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_said_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage(clock=clock)
    caplog.set_level(logging.WARNING, logger="hpo.worker")
    for _ in range(150):  # one failed attempt a second for 2.5 minutes
        outage.failed(URL, "POST /claim: ConnectError")
        clock.now += 1
    said = [r.getMessage() for r in caplog.records]
    assert said[0].startswith(f"API at {URL} unreachable (POST /claim: ConnectError)")
    assert said[1:] == [
        "API unreachable for 1m: retrying (POST /claim: ConnectError)",
        "API unreachable for 2m: retrying (POST /claim: ConnectError)",
    ]
    assert outage.seconds == 150
    outage.answered()
    assert outage.seconds == 0
    assert caplog.records[-1].getMessage() == "API reachable again after 2m"


def test_give_up_after_counts_from_the_first_failure() -> None:
    clock = Clock()
    outage = Outage(give_up_after=90, clock=clock)
    outage.failed(URL, "x")
    clock.now += 89
    outage.failed(URL, "x")
    clock.now += 1
    with pytest.raises(ApiGaveUp, match=r"unreachable for 1m \(--give-up-after 90\)"):
        outage.failed(URL, "x")
    outage.answered()  # a new outage starts the count again
    outage.failed(URL, "x")


def test_durations_read_in_whole_units() -> None:
    assert [duration(s) for s in (0, 59.9, 60, 150, 3600, 3900)] == [
        "0s", "59s", "1m", "2m", "1h", "1h5m",
    ]  # fmt: skip
