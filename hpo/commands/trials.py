"""`hpo trials STUDY [--state failed] [--json]`: every trial of a study with how it ended, so a
failure's class and message are one command away (not only in the JSON of the trials route)."""

from __future__ import annotations

import click

from hpo.client import Client
from hpo.commands._study_ref import resolve_study
from hpo.commands._tables import Column, Sheet, emit, json_option
from hpo.commands.study import _client, _fmt, api_option, read_token_option, study_argument
from hpo.errors import one_line
from hpo.wire import TrialView

STATES = ("queued", "running", "completed", "pruned", "failed")
_PAGE = 1000  # the most the trials route gives per request


def all_trials(client: Client, study_id: int, state: str | None) -> list[TrialView]:
    """Every trial of the study (in the state), by number, over as many pages as it takes."""
    items: list[TrialView] = []
    while True:
        page = client.trials(study_id, state=state, offset=len(items), limit=_PAGE)
        items += page.items
        if len(items) >= page.total or not page.items:
            return items


def trials_sheet(study_id: int, trials: list[TrialView], state: str | None) -> Sheet:
    which = f"{state} trials" if state else "trials"
    sheet = Sheet(
        title=f"study {study_id}: {len(trials)} {which}",
        columns=[Column("trial", "right", key=True), Column("state", key=True),
                 Column("value", "right", key=True), Column("attempt", "right"),
                 Column("failure", key=True), Column("message"), Column("tags"),
                 Column("note")],
    )  # fmt: skip
    for t in trials:
        value = "-" if t.value is None else _fmt(t.value)
        message = one_line(t.failure_message or "")
        note = one_line(t.note or "")
        sheet.add(
            str(t.number), t.state, value, str(t.attempt), t.failure_class or "", message,
            ",".join(t.tags), note,
        )  # fmt: skip
    return sheet


@click.command()
@study_argument
@click.option("--state", type=click.Choice(STATES), help="Only the trials in this state.")
@json_option("Print the trials as JSON (whole messages) instead of a table.")
@api_option
@read_token_option
def trials(study: str, state: str | None, as_json: bool, api: str, token: str | None) -> None:
    """A study's trials (id or name) with their state, value, and failure class and message
    (a traceback's last line; --json has it whole). TSV when piped."""
    client = _client(api, token)
    study_id = resolve_study(client, study)
    items = all_trials(client, study_id, state)
    records = [t.to_json() for t in items]
    emit(trials_sheet(study_id, items, state), as_json=as_json, records=records)
