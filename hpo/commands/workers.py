"""`hpo workers`: the live workers, as `GET /api/v1/workers` lists them (admin token)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from hpo.commands._tables import Column, Sheet, emit, json_option
from hpo.commands.study import api_option, token_option
from hpo.wire import WorkerView

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.


@click.command()
@api_option
@token_option
@json_option()
def workers(api: str, token: str | None, as_json: bool) -> None:
    """The live workers: pools, devices, slots, the trials each runs, last seen."""
    from hpo.client import Client

    with Client(api, token=token, retries=2) as client:
        fleet = client.list_workers()
    emit(worker_sheet(fleet, now=datetime.now(UTC)), as_json=as_json,
         records=[w.to_json() for w in fleet])  # fmt: skip


def worker_sheet(fleet: list[WorkerView], *, now: datetime) -> Sheet:
    """One row per worker, then a total row: how many slots each pool has, how many busy."""
    sheet = Sheet(
        title=f"{len(fleet)} live workers",
        columns=[
            Column("worker", key=True),
            Column("host"),
            Column("pools"),
            Column("devices"),
            Column("slots", justify="right"),
            Column("trials"),
            Column("last seen", justify="right"),
        ],
    )
    for w in fleet:
        sheet.add(
            w.id,
            w.host,
            ",".join(w.pools),
            ",".join(w.devices),
            str(w.slots),
            ",".join(str(t) for t in w.current_trials) or "idle",
            _ago(now, w.last_seen),
        )
    return sheet


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"
