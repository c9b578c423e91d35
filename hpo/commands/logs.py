"""`hpo logs TRIAL [--attempt N] [--tail K] [--follow]`: what a trial's attempts printed (a
command's stdout and stderr, a built-in trainer's epochs), as the server keeps it."""

from __future__ import annotations

import sys
import time

import click

from hpo.commands.study import _client, api_option, read_token_option

_OVER = frozenset({"completed", "pruned", "failed"})


@click.command()
@click.argument("trial_id", metavar="TRIAL", type=int)
@click.option("--attempt", type=click.IntRange(min=1), help="Default: the latest that logged.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last K lines.")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing new lines until the trial is over."
)
@click.option("--poll-seconds", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@api_option
@read_token_option
def logs(
    trial_id: int,
    attempt: int | None,
    tail: int | None,
    follow: bool,
    poll_seconds: float,
    api: str,
    token: str | None,
) -> None:
    """Print a trial's log (TRIAL is the trial's id, as `hpo trials` lists it)."""
    client = _client(api, token)
    page = client.read_log(trial_id, attempt=attempt, tail=tail)
    _write(page.text)
    if not follow:
        return
    shown, end = page.attempt, page.end
    while True:
        if page.state in _OVER:
            # One more read after the end: the last lines may land just after the result.
            last = client.read_log(trial_id, attempt=shown, since=end)
            _write(last.text)
            return
        time.sleep(poll_seconds)
        page = client.read_log(trial_id, attempt=shown, since=end)
        _write(page.text)
        end = page.end
        newer = [a for a in page.attempts if a > shown] if attempt is None else []
        if newer:
            # The trial was requeued: follow the attempt that runs it now.
            shown, end = newer[-1], 0
            click.echo(f"--- attempt {shown} ---")
            page = client.read_log(trial_id, attempt=shown)
            _write(page.text)
            end = page.end


def _write(text: str) -> None:
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()
