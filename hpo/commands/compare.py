"""`hpo compare FILE.yaml`: run a sampler comparison on the server, watch it, rank it, and
optionally retrain each sampler's winner for its test metric (--final).

--final trains here, on this machine, not on the workers: for each sampler it takes the best
trial over that sampler's seeds, runs `hpo train CONFIG --final --json --seeds N` on it (train
+ validation, test scored once) and records the mean test metric and its sd on the
comparison (PUT /api/v1/comparisons/{id}/final/{sampler}), where the web page shows it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hpo.client import Client
from hpo.commands._tables import Column, Sheet, emit, json_option, rich_table
from hpo.commands.study import SAMPLER_NAMES, api_option, watch_token_option
from hpo.errors import HpoError, ValidationError

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.

# States after which a comparison changes no more (a paused one may still be resumed).
_OVER = ("completed", "cancelled")


@click.command()
@click.argument("spec_file", metavar="FILE.yaml", required=False)
@click.option(
    "--id",
    "comparison_id",
    type=click.IntRange(1),
    help="Watch (and --final) an existing comparison instead of creating one.",
)
@click.option(
    "--samplers",
    help=f"Override the samplers: comma-separated, e.g. grid,random,tpe (of {SAMPLER_NAMES}).",
)
@click.option("--trials", type=click.IntRange(1), help="Override n_trials (per study).")
@click.option("--repeats", type=click.IntRange(1), help="Override the number of seeds.")
@click.option("--seed", type=click.IntRange(0), help="Override the base seed.")
@click.option("--name", help="Override the comparison's name.")
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Show live progress until the comparison is over, then the ranking.",
)
@click.option(
    "--final",
    is_flag=True,
    help="When it is over, retrain each sampler's winner here and record its test metric.",
)
@click.option(
    "--final-seeds",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Training seeds per winner for --final (mean ± sd).",
)
@click.option(
    "--final-device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--final-out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep each winner's config, metrics and weights under DIR/<sampler>/.",
)
@click.option("--poll-seconds", type=click.FloatRange(0.05), default=2.0, show_default=True)
@json_option("Print the comparison's view (the API's JSON) at the end instead of the table.")
@api_option
@watch_token_option
def compare(
    spec_file: str | None,
    comparison_id: int | None,
    samplers: str | None,
    trials: int | None,
    repeats: int | None,
    seed: int | None,
    name: str | None,
    watch: bool,
    final: bool,
    final_seeds: int,
    final_device: str,
    final_out: Path | None,
    poll_seconds: float,
    as_json: bool,
    api: str,
    token: str | None,
) -> None:
    """Compare samplers on one task and budget (one study per sampler and seed).

    FILE.yaml holds {name, task, space, fixed, samplers, n_trials, repeats, seed, pruner,
    max_parallel}; see search_spaces/compare_mlp_mnist1d.yaml. Workers (`hpo worker`) train
    the trials; this command shows their progress and the ranking.
    """
    if (spec_file is None) == (comparison_id is None):
        raise ValidationError("give a comparison file (FILE.yaml) or --id N of an existing one")
    if final and not watch:
        raise ValidationError("--final waits for the comparison to finish: drop --no-watch")
    # Validated before any request, with the API's messages.
    overrides = cli_overrides(samplers, trials, repeats, seed, name)
    spec = read_comparison_spec(spec_file, overrides) if spec_file else None
    client = Client(api, token=token, retries=2)
    # With --json, stdout carries only the JSON: progress and messages go to stderr.
    console = Console(stderr=as_json)
    if spec is not None:
        view = client.create_comparison(spec)
        comparison_id = int(view["id"])
        console.print(
            f"created comparison {comparison_id} ({view['name']}): {len(view['studies'])} "
            f"studies, {', '.join(view['samplers'])} x {view['repeats']} seeds, "
            f"{view['n_trials']} trials each"
        )
        console.print(f"web page: {api.rstrip('/')}/comparisons/{comparison_id}", soft_wrap=True)
    if comparison_id is None:
        return
    if not watch:
        if as_json:
            click.echo(json.dumps(client.get_comparison(comparison_id), indent=2, default=str))
        return
    view = watch_comparison(client, comparison_id, console, poll_seconds)
    if final:
        final_training(client, view, console, seeds=final_seeds, device=final_device, out=final_out)
        view = client.get_comparison(comparison_id)
    emit(comparison_sheet(view), as_json=as_json, records=view, console=console, tsv_title=True)
    if not as_json:
        print_verdict(view, console)


def read_comparison_spec(path: str | Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """The file with the overrides applied (nested dicts merge), validated here so mistakes
    fail before any request, with the same messages as the API."""
    from hpo.comparison_spec import parse_comparison_spec
    from hpo.space import read_mapping

    return parse_comparison_spec(read_mapping(path), overrides=overrides).to_dict()


def cli_overrides(
    samplers: str | None,
    trials: int | None,
    repeats: int | None,
    seed: int | None,
    name: str | None,
) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if samplers is not None:
        overrides["samplers"] = [s.strip() for s in samplers.split(",") if s.strip()]
    for key, value in (("n_trials", trials), ("repeats", repeats), ("seed", seed)):
        if value is not None:
            overrides[key] = value
    if name:
        overrides["name"] = name
    return overrides


def watch_comparison(
    client: Client,
    comparison_id: int,
    console: Console,
    poll_seconds: float = 2.0,
    on_poll: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Redraw the progress and the ranking until the comparison is over; return its view.
    Interrupting it (Ctrl-C) stops the watching only: the comparison runs on. `on_poll` runs
    before each poll (the demo checks its server and workers are alive there)."""
    view = client.get_comparison(comparison_id)
    # transient: the live view goes away at the end; callers print the final table once.
    with Live(progress_view(view), console=console, auto_refresh=False, transient=True) as live:
        while view["state"] not in _OVER:
            time.sleep(poll_seconds)
            if on_poll is not None:
                on_poll()
            view = client.get_comparison(comparison_id)
            live.update(progress_view(view), refresh=True)
    return view


def progress_view(view: dict[str, Any]) -> Group:
    """Overall progress bar, then the ranking so far."""
    total, done = view["n_total"], view["n_finished"]
    head = Table.grid(padding=(0, 1))
    head.add_row(
        f"comparison {view['id']} {view['name']} ({view['state']})",
        ProgressBar(total=max(total, 1), completed=done, width=40),
        f"{done}/{total} trials",
    )
    verdict = Text(f"ranking: {view['verdict']}") if view.get("verdict") else Text("")
    return Group(head, comparison_table(view), verdict)


def comparison_table(view: dict[str, Any]) -> Table:
    """`comparison_sheet` as a rich table (key columns never cut)."""
    return rich_table(comparison_sheet(view), Console())


def comparison_sheet(view: dict[str, Any]) -> Sheet:
    """One row per sampler, best first: the median best value over seeds with its
    interquartile range, each seed's best, progress, and (once `--final` recorded it) the
    test metric of the sampler's winner."""
    title = (
        f"comparison {view['id']} {view['name']}: best {view['objective']} "
        f"({view['direction']}), {view['n_trials']} trials x {view['repeats']} seeds"
    )
    with_test = any(r["test_metric"] is not None for r in view["results"])
    columns = [
        Column("#", "right", key=True), Column("sampler", key=True),
        Column("trials", "right", key=True), Column("median", "right", key=True),
        Column("q25-q75", key=True), Column("best per seed"),
    ]  # fmt: skip
    if with_test:
        columns.append(Column("test (final)", "right", key=True))
    sheet = Sheet(title=title, columns=columns, simple_box=True)
    per_sampler = view["n_total"] // max(len(view["samplers"]), 1)
    for r in view["results"]:
        iqr = "-" if r["q25_best"] is None else f"{r['q25_best']:.3f}-{r['q75_best']:.3f}"
        cells = [
            str(r["rank"]), r["sampler"], f"{r['n_finished']}/{per_sampler}",
            _num(r["median_best"]), iqr, " ".join(_num(v) for v in r["best_values"]),
        ]  # fmt: skip
        if with_test:
            sd = r["test_metric_sd"]
            test = _num(r["test_metric"]) + (f" ± {sd:.3f}" if sd is not None else "")
            cells.append(test if r["test_metric"] is not None else "-")
        sheet.add(*cells)
    return sheet


def print_verdict(view: dict[str, Any], console: Console) -> None:
    """The line under the ranking that says whether it is a verdict or noise."""
    if view.get("verdict"):
        console.print(f"ranking: {view['verdict']}", soft_wrap=True)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def final_training(
    client: Client,
    view: dict[str, Any],
    console: Console,
    *,
    seeds: int = 1,
    device: str = "auto",
    out: Path | None = None,
    samplers: list[str] | None = None,
) -> None:
    """Retrain each sampler's winner (or those of `samplers` only) on train + validation and
    record its test metric."""
    maximize = view["direction"] == "maximize"
    test_metric = view["objective"].replace("val_", "test_", 1)
    for sampler in samplers if samplers is not None else view["samplers"]:
        studies = [
            s for s in view["studies"] if s["sampler"] == sampler and s["best_value"] is not None
        ]
        if not studies:
            console.print(f"{sampler}: no completed trial, nothing to retrain")
            continue
        winner = (max if maximize else min)(studies, key=lambda s: s["best_value"])
        best = client.best(int(winner["id"]))
        console.print(
            f"{sampler}: retraining the winner (study {winner['id']}, trial {best.number}, "
            f"{view['objective']} {best.value:.4f}) on train + validation, {seeds} seed(s)"
        )
        summary = _train_final(best.config, sampler, seeds, device, out)
        value = summary.get(test_metric)
        if summary.get("status") != "completed" or value is None:
            console.print(f"[red]{sampler}: final training ended {summary.get('status')}[/red]")
            continue
        client.record_final(
            int(view["id"]),
            sampler,
            {
                "test_metric": value,
                "test_metric_sd": summary.get(f"{test_metric}_sd"),
                "metric": test_metric,
                "seeds": summary.get("seeds", []),
                "study_id": int(winner["id"]),
                "trial_id": best.trial_id,
            },
        )
        console.print(f"{sampler}: {test_metric} {value:.4f}")


def _train_final(
    config: dict[str, Any], sampler: str, seeds: int, device: str, out: Path | None
) -> dict[str, Any]:
    """`hpo train CONFIG --final --json` in a child process (torch stays out of this one);
    its progress goes to our stderr, its JSON summary comes back on stdout."""
    with tempfile.TemporaryDirectory(prefix="hpo-final-") as tmp:
        config_path = Path(tmp) / f"{sampler}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [sys.executable, "-m", "hpo.cli", "train", str(config_path), "--final", "--json",
                "--seeds", str(seeds), "--device", device]  # fmt: skip
        if out is not None:
            argv += ["--out", str(out / sampler)]
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)
    try:
        summary: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise HpoError(
            f"final training of {sampler}'s winner failed (exit {proc.returncode}): "
            "see the messages above"
        ) from None
    return summary
