"""`hpo study ...`, `hpo leaderboard`, `hpo best`: the API from the terminal."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from hpo.client import Client
from hpo.commands._study_ref import resolve_study
from hpo.commands._tables import Column, Sheet, emit, is_terminal, json_option, rich_table
from hpo.commands.study_summary import summary_lines, why_not_running
from hpo.pick import parse_pick
from hpo.wire import TrialView

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.

api_option = click.option(
    "--api",
    envvar="HPO_API_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The API's URL, or several comma-separated (replicas: a request moves to the next "
    "when one does not answer); default $HPO_API_URL.",
)
token_option = click.option(
    "--token",
    envvar=["HPO_TOKEN", "HPO_API_TOKEN"],
    help="Admin bearer token; default $HPO_TOKEN, else $HPO_API_TOKEN.",
)
# Reads take the read or the admin token (whichever the environment has, read first).
# `hpo compare`: creating needs the admin token; watching one (--id N) only reads.
watch_token_option = click.option(
    "--token",
    envvar=["HPO_TOKEN", "HPO_API_TOKEN", "HPO_READ_TOKEN"],
    help="Admin bearer token (the read token is enough to watch --id N); default "
    "$HPO_TOKEN, else $HPO_API_TOKEN, else $HPO_READ_TOKEN.",
)
read_token_option = click.option(
    "--token",
    envvar=["HPO_TOKEN", "HPO_READ_TOKEN", "HPO_API_TOKEN"],
    help="Read (or admin) bearer token; default $HPO_TOKEN, else $HPO_READ_TOKEN, else "
    "$HPO_API_TOKEN.",
)
# What `--help` lists; tests/unit/test_cli_tables.py keeps it equal to the registry's names
# (importing the registry here would load the samplers for `--help`).
SAMPLER_NAMES = "grid, random, qmc, tpe, gp, cmaes, nsga2, lipo"
# A study on the command line: its id, or its name (the newest study of that name).
study_argument = click.argument("study", metavar="STUDY")


def _client(api: str, token: str | None) -> Client:
    return Client(api, token=token, retries=2)


@click.group()
def study() -> None:
    """Create, list, show, pause, resume or cancel studies."""


@study.command("create")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--sampler", help=f"Override the spec's sampler ({SAMPLER_NAMES}).")
@click.option("--trials", type=click.IntRange(1), help="Override the budget's n_trials.")
@click.option("--name", help="Override the study name.")
@click.option("--seed", type=click.IntRange(0), help="Override the seed.")
@click.option(
    "--client-token",
    is_flag=True,
    help="Also make the study's client token (ask/tell from your own code without the admin "
    "token) and print it: it is shown this once.",
)
@api_option
@token_option
def create(
    spec_file: str,
    sampler: str | None,
    trials: int | None,
    name: str | None,
    seed: int | None,
    client_token: bool,
    api: str,
    token: str | None,
) -> None:
    """Create a study from a YAML/JSON spec file; prints its id (and its client token)."""
    from hpo.space import read_mapping
    from hpo.spec import parse_study_spec

    overrides: dict[str, Any] = {}
    if sampler:
        overrides["sampler"] = {"name": sampler, "options": {}}
    if trials:
        overrides["budget"] = {"n_trials": trials}
    if name:
        overrides["name"] = name
    if seed is not None:
        overrides["seed"] = seed
    if client_token:
        overrides["client_token"] = True
    spec = parse_study_spec(read_mapping(spec_file), overrides=overrides)  # fails before HTTP
    body = {**spec.to_dict(), "client_token": spec.client_token}
    created = _client(api, token).create_study(body)
    click.echo(
        f"created study {created.id} ({created.name}, sampler {created.sampler}, "
        f"{created.n_trials} trials{_grid_note(spec)})"
    )
    if created.client_token:
        click.echo(
            f"client token (shown once; ask/tell for study {created.id} only): "
            f"{created.client_token}"
        )


@study.command("list")
@click.option("--state", type=click.Choice(["running", "paused", "completed", "cancelled"]))
@json_option()
@api_option
@read_token_option
def list_(state: str | None, as_json: bool, api: str, token: str | None) -> None:
    """List studies with their progress and best value (TSV when piped)."""
    studies = _client(api, token).list_studies(state)
    sheet = Sheet(
        title="studies",
        columns=[Column("id", "right", key=True), Column("name", key=True), Column("state"),
                 Column("sampler"), Column("progress", "right", key=True),
                 Column("best", "right", key=True), Column("reason")],
    )  # fmt: skip
    for s in studies:
        best = s.best.value if s.best is not None else None
        sheet.add(
            str(s.id), s.name, s.state, s.sampler, f"{s.n_finished}/{s.n_trials}",
            "-" if best is None else f"{best:.4f}",
            s.paused_reason or "" if s.state == "paused" else "",
        )  # fmt: skip
    emit(sheet, as_json=as_json, records=[s.to_json() for s in studies])


@study.command("show")
@study_argument
@click.option("--json", "as_json", is_flag=True, help="The whole study as JSON.")
@api_option
@read_token_option
def show(study: str, as_json: bool, api: str, token: str | None) -> None:
    """Show one study (id or name): its state (and why it is paused), trials by state, best
    value and most common failure; --json: the whole study."""
    client = _client(api, token)
    info = client.get_study(resolve_study(client, study))
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2, default=str))
        return
    for line in summary_lines(info):
        click.echo(line)


def _action(action: str) -> click.Command:
    @click.command(action, help=f"{action.capitalize()} a study.")
    @click.argument("study_id", type=int)
    @api_option
    @token_option
    def command(study_id: int, api: str, token: str | None) -> None:
        updated = _client(api, token).update_study(study_id, action=action)
        click.echo(f"study {study_id} is {updated.state}")

    return command


for _name in ("pause", "resume", "cancel"):
    study.add_command(_action(_name))


def leaderboard_table(client: Client, study_id: int, k: int) -> Table:
    return rich_table(leaderboard_sheet(client, study_id, k)[0], Console())


def leaderboard_sheet(client: Client, study_id: int, k: int) -> tuple[Sheet, list[TrialView]]:
    """The leaderboard as a sheet (rank, trial and the objective are never cut) and the
    rows the API returned."""
    info = client.get_study(study_id)
    rows = client.leaderboard(study_id, k)
    counts = info.counts
    title = (
        f"study {study_id} {info.name} ({info.sampler}, {info.state}, "
        f"{info.n_finished}/{info.n_trials} finished: {counts.get('completed', 0)} completed, "
        f"{counts.get('pruned', 0)} pruned, {counts.get('failed', 0)} failed; "
        f"{counts.get('running', 0)} running)"
    )
    reason = why_not_running(info)  # paused (why), or the most common failure
    if reason:
        title += f"\n{reason}"
    metric = info.spec["task"].get("metric", "value")
    param_names = list(info.spec["space"])
    columns = [Column("#", "right", key=True), Column("trial", "right", key=True),
               Column(metric, "right", key=True)]  # fmt: skip
    sheet = Sheet(title=title, columns=columns + [Column(n, param=True) for n in param_names])
    for rank, row in enumerate(rows, 1):
        sheet.add(
            str(rank), str(row.number), f"{row.value:.4f}",
            # An inactive conditional parameter is absent from the trial: an empty cell.
            *[_fmt(row.params[n]) if n in row.params else "" for n in param_names],
        )  # fmt: skip
    return sheet, rows


def _grid_note(spec: Any) -> str:
    """A grid study's size; for a conditional space, the active combinations it enumerates
    against the product of every parameter's values."""
    if spec.sampler.name != "grid":
        return ""
    space = spec.search_space()
    size = space.grid_size()
    if not space.is_conditional:
        return f"; a grid of {size} points"
    flat = space.flattened().grid_size()
    return f"; a grid of {size} active combinations ({flat} without the conditions)"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@click.command()
@study_argument
@click.option("-k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--watch", is_flag=True, help="Refresh every 2 s until the study finishes.")
@json_option("Print the leaderboard's rows as JSON instead of a table.")
@api_option
@read_token_option
def leaderboard(
    study: str, k: int, watch: bool, as_json: bool, api: str, token: str | None
) -> None:
    """The top k completed trials of a study (id or name), best first (TSV when piped)."""
    client = _client(api, token)
    study_id = resolve_study(client, study)
    console = Console()
    if not watch or as_json or not is_terminal():
        sheet, rows = leaderboard_sheet(client, study_id, k)
        emit(sheet, as_json=as_json, records=[row.to_json() for row in rows], console=console)
        return
    with Live(leaderboard_table(client, study_id, k), console=console, auto_refresh=False) as live:
        while client.get_study(study_id).state in ("running", "paused"):
            time.sleep(2)
            live.update(leaderboard_table(client, study_id, k), refresh=True)


@click.command()
@study_argument
@click.option(
    "--format", "fmt", type=click.Choice(["json", "yaml"]), default="yaml", show_default=True
)
@click.option(
    "--artifacts",
    "artifacts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also download the best trial's artifacts (its outputs, the trained weights) here.",
)
@click.option(
    "--pick",
    default=None,
    metavar="RULE",
    help=(
        "Several objectives: which trial. Grammar: knee | best OBJECTIVE | (smallest|largest) "
        "METRIC within NUMBER[%] of the best OBJECTIVE. Example: --pick 'smallest n_params "
        "within 0.005 of the best val_accuracy'; knee: the Pareto point nearest the ideal one "
        "with every objective scaled to [0, 1]. Default: the best on the first objective."
    ),
)
@api_option
@read_token_option
def best(
    study: str,
    fmt: str,
    artifacts_dir: Path | None,
    pick: str | None,
    api: str,
    token: str | None,
) -> None:
    """The best trial's training config (YAML, ready for `hpo train --final`) or JSON."""
    if pick is not None:
        parse_pick(pick)  # a bad rule: one line on stderr (hpo/cli.py), before any request
    client = _client(api, token)
    study_id = resolve_study(client, study)
    if artifacts_dir is not None:
        _download_artifacts(client, client.best(study_id, pick).trial_id, artifacts_dir)
    if fmt == "yaml":
        click.echo(client.best_yaml(study_id, pick), nl=False)
    else:
        click.echo(json.dumps(client.best(study_id, pick).to_json(), indent=2))


def _download_artifacts(client: Client, trial_id: int, directory: Path) -> None:
    """Every artifact of the trial but its checkpoint (what a completed trial kept), each to
    `directory/<name>`; one line per file on stderr, so stdout stays the config."""
    from hpo.artifacts import CHECKPOINT_PREFIX, validate_name

    rows = [
        r for r in client.list_artifacts(trial_id) if not r["name"].startswith(CHECKPOINT_PREFIX)
    ]
    if not rows:
        click.echo(f"trial {trial_id} kept no artifacts", err=True)
    for row in rows:
        name = validate_name(str(row["name"]))  # the server's names, checked again: no escape
        size = client.download_artifact(trial_id, name, directory / name)
        click.echo(f"{directory / name} ({size} bytes)", err=True)
