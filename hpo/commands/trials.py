"""`hpo trials STUDY [--state failed] [--json]`: every trial of a study with how it ended, so a
failure's class and message are one command away (not only in the JSON of the trials route)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hpo.commands.study import _client, _fmt, api_option, read_token_option
from hpo.errors import one_line

STATES = ("queued", "running", "completed", "pruned", "failed")
_PAGE = 1000  # the most the trials route gives per request


def all_trials(client: Any, study_id: int, state: str | None) -> list[dict[str, Any]]:
    """Every trial of the study (in the state), by number, over as many pages as it takes."""
    items: list[dict[str, Any]] = []
    while True:
        page = client.trials(study_id, state=state, offset=len(items), limit=_PAGE)
        items += page["items"]
        if len(items) >= page["total"] or not page["items"]:
            return items


def trials_table(study_id: int, trials: list[dict[str, Any]], state: str | None) -> Table:
    which = f"{state} trials" if state else "trials"
    table = Table(title=f"study {study_id}: {len(trials)} {which}")
    for column in ("trial", "state", "value", "attempt", "failure", "message"):
        table.add_column(column, justify="right" if column in ("trial", "value") else "left")
    for t in trials:
        value = "-" if t["value"] is None else _fmt(t["value"])
        message = one_line(t.get("failure_message") or "")
        table.add_row(
            str(t["number"]), t["state"], value, str(t["attempt"]), t.get("failure_class") or "",
            message,
        )  # fmt: skip
    return table


@click.command()
@click.argument("study_id", type=int)
@click.option("--state", type=click.Choice(STATES), help="Only the trials in this state.")
@click.option("--json", "as_json", is_flag=True, help="The trials as JSON (full messages).")
@api_option
@read_token_option
def trials(study_id: int, state: str | None, as_json: bool, api: str, token: str | None) -> None:
    """A study's trials with their state, value, and failure class and message."""
    items = all_trials(_client(api, token), study_id, state)
    if as_json:
        click.echo(json.dumps(items, indent=2, default=str))
        return
    Console().print(trials_table(study_id, items, state))
