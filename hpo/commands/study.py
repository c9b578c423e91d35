"""`hpo study ...`, `hpo leaderboard`, `hpo best`: the API from the terminal."""

from __future__ import annotations

import json
import time
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from hpo.client import Client
from hpo.commands.study_summary import summary_lines, why_not_running

api_option = click.option(
    "--api", envvar="HPO_API_URL", default="http://127.0.0.1:8000", show_default=True
)
token_option = click.option("--token", envvar="HPO_API_TOKEN", help="Admin bearer token.")
# Reads take the read or the admin token (whichever the environment has, read first).
# `hpo compare`: creating needs the admin token; watching one (--id N) only reads.
watch_token_option = click.option(
    "--token",
    envvar=["HPO_API_TOKEN", "HPO_READ_TOKEN"],
    help="Admin bearer token (the read token is enough to watch --id N); default "
    "$HPO_API_TOKEN, else $HPO_READ_TOKEN.",
)
read_token_option = click.option(
    "--token",
    envvar=["HPO_READ_TOKEN", "HPO_API_TOKEN"],
    help="Read (or admin) bearer token; default $HPO_READ_TOKEN, else $HPO_API_TOKEN.",
)


def _client(api: str, token: str | None) -> Client:
    return Client(api, token=token, retries=2)


@click.group()
def study() -> None:
    """Create, list, show, pause, resume or cancel studies."""


@study.command("create")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--sampler", help="Override the spec's sampler (grid, random, tpe, gp, cmaes, lipo).")
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
        f"created study {created['id']} ({created['name']}, sampler {created['sampler']}, "
        f"{created['n_trials']} trials)"
    )
    if created.get("client_token"):
        click.echo(
            f"client token (shown once; ask/tell for study {created['id']} only): "
            f"{created['client_token']}"
        )


@study.command("list")
@click.option("--state", type=click.Choice(["running", "paused", "completed", "cancelled"]))
@api_option
@read_token_option
def list_(state: str | None, api: str, token: str | None) -> None:
    """List studies with their progress and best value."""
    studies = _client(api, token).list_studies(state)
    table = Table(title="studies")
    for column in ("id", "name", "state", "sampler", "progress", "best"):
        table.add_column(column)
    for s in studies:
        best = s["best"]["value"] if s.get("best") else None
        finished = sum(s["counts"].get(k, 0) for k in ("completed", "pruned", "failed"))
        table.add_row(
            str(s["id"]), s["name"], s["state"], s["sampler"], f"{finished}/{s['n_trials']}",
            "-" if best is None else f"{best:.4f}",
        )  # fmt: skip
    Console().print(table)
    for s in studies:  # why a study stopped, under the table
        if s.get("paused_reason") and s["state"] == "paused":
            click.echo(f"study {s['id']}: {s['paused_reason']}")


@study.command("show")
@click.argument("study_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The whole study as JSON.")
@api_option
@read_token_option
def show(study_id: int, as_json: bool, api: str, token: str | None) -> None:
    """Show one study: its state (and why it is paused), trials by state, best value, and its
    most common failure."""
    info = _client(api, token).get_study(study_id)
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
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
        click.echo(f"study {study_id} is {updated['state']}")

    return command


for _name in ("pause", "resume", "cancel"):
    study.add_command(_action(_name))


def leaderboard_table(client: Client, study_id: int, k: int) -> Table:
    info = client.get_study(study_id)
    rows = client.leaderboard(study_id, k)
    counts = info["counts"]
    finished = sum(counts.get(s, 0) for s in ("completed", "pruned", "failed"))
    table = Table(
        title=f"study {study_id} {info['name']} ({info['sampler']}, {info['state']}, "
        f"{finished}/{info['n_trials']} finished: {counts.get('completed', 0)} completed, "
        f"{counts.get('pruned', 0)} pruned, {counts.get('failed', 0)} failed; "
        f"{counts.get('running', 0)} running)"
    )
    table.caption = why_not_running(info)
    metric = info["spec"]["task"].get("metric", "value")
    table.add_column("#", justify="right")
    table.add_column("trial", justify="right")
    table.add_column(metric, justify="right")
    param_names = list(info["spec"]["space"])
    for name in param_names:
        table.add_column(name)
    for rank, row in enumerate(rows, 1):
        table.add_row(
            str(rank), str(row["number"]), f"{row['value']:.4f}",
            *[_fmt(row["params"].get(n)) for n in param_names],
        )  # fmt: skip
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@click.command()
@click.argument("study_id", type=int)
@click.option("-k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--watch", is_flag=True, help="Refresh every 2 s until the study finishes.")
@api_option
@read_token_option
def leaderboard(study_id: int, k: int, watch: bool, api: str, token: str | None) -> None:
    """The top k completed trials of a study, best first."""
    client = _client(api, token)
    console = Console()
    if not watch:
        console.print(leaderboard_table(client, study_id, k))
        return
    with Live(leaderboard_table(client, study_id, k), console=console, auto_refresh=False) as live:
        while client.get_study(study_id)["state"] in ("running", "paused"):
            time.sleep(2)
            live.update(leaderboard_table(client, study_id, k), refresh=True)


@click.command()
@click.argument("study_id", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "yaml"]), default="yaml", show_default=True
)
@api_option
@read_token_option
def best(study_id: int, fmt: str, api: str, token: str | None) -> None:
    """The best trial's training config (YAML, ready for `hpo train --final`) or JSON."""
    client = _client(api, token)
    if fmt == "yaml":
        click.echo(client.best_yaml(study_id), nl=False)
    else:
        click.echo(json.dumps(client.best(study_id), indent=2))
