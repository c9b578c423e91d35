"""`hpo train CONFIG.yaml`: train one configuration, or retrain it for good with --final.

This is worker-side glue: it is the only place in the CLI that imports torch (through
`trainers`), and it does so inside the command so `hpo --help` stays fast.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hpo.errors import ValidationError
from hpo.yamlload import load_yaml

if TYPE_CHECKING:
    from trainers import RunConfig, TrainResult

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.


class TrainingConfigError(ValidationError):
    """A training config file that cannot be read or is invalid."""


@click.command("train")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(path_type=Path))
@click.option("--final", is_flag=True, help="Retrain on train + validation and report test.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write config.yaml, metrics.json and weights here "
    "(with --final, default runs/<config>-final-<UTC time>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto picks CUDA when present.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Repeat with seeds seed..seed+N-1 and report mean ± sd.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="CPU threads (0: torch's default, all cores).",
)
def train(
    config_path: Path,
    final: bool,
    out: Path | None,
    as_json: bool,
    device: str,
    seeds: int,
    threads: int,
) -> None:
    """Train the model a training config describes and report validation and test metrics.

    CONFIG.yaml is {task: {model, dataset, epochs, metric}, params: {...}, seed}, as `hpo best`
    writes it. Without --final, the best validation epoch's weights are scored on test.
    """
    from trainers import ConfigError, build_run_config, resolve_device

    raw = _read_config(config_path)
    if final and out is None:
        # A final model is the point of the run: keep it, with the exact config beside it.
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{config_path.stem}-final-{stamp}"
    try:
        base = build_run_config(raw, device=device, threads=threads)
        resolve_device(device)  # fail before any progress bar when CUDA is asked for but absent
    except ConfigError as e:
        raise TrainingConfigError(f"{config_path}: {e}") from None

    console = Console(stderr=True, quiet=as_json)  # progress
    report = Console(quiet=as_json)  # results, on stdout unless --json took it
    results: list[TrainResult] = []
    for i in range(seeds):
        cfg = base.with_seed(base.seed + i)
        try:
            result = _train_with_progress(console, cfg, final, keep_weights=out is not None)
        except ConfigError as e:
            raise TrainingConfigError(f"{config_path}: {e}") from None
        results.append(result)
        _print_run(report, cfg, result, final)

    summary = _summary(base, results, final)
    if seeds > 1:
        _print_spread(report, summary)
    if out is not None:
        _write_out(out, base, results, summary, final)
        report.print(f"wrote {out}/config.yaml, metrics.json and weights")
    if as_json:
        click.echo(json.dumps(summary))
    if any(not r.ok for r in results):
        sys.exit(1)  # a diverged or out-of-memory run: the output says which, the exit code too


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as e:
        raise TrainingConfigError(f"cannot read {path}: {e.strerror}") from None
    try:
        loaded = load_yaml(text, source=str(path))
    except ValidationError as e:
        raise TrainingConfigError(str(e)) from None
    if not isinstance(loaded, dict):
        raise TrainingConfigError(f"{path} must hold a mapping with keys task, params, seed")
    task = loaded.get("task")
    if isinstance(task, dict) and task.get("kind") == "command":
        raise TrainingConfigError(
            f"{path} is a command trial's config: hpo train runs the built-in models only; run "
            "your script with these params (HPO_PARAMS or its placeholders) instead"
        )
    return loaded


def _train_with_progress(
    console: Console, cfg: RunConfig, final: bool, *, keep_weights: bool
) -> TrainResult:
    from trainers import run_training

    epochs = cfg.train.epochs
    label = "train loss" if final else cfg.train.metric
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[shown]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"seed {cfg.seed}", total=epochs, shown="")

        def on_epoch(epoch: int, value: float, train_loss: float) -> bool:
            shown = train_loss if final else value
            progress.update(task, completed=epoch, shown=f"{label} {shown:.4f}")
            return False

        result = run_training(
            cfg, on_epoch, final=final, evaluate_test=True, keep_weights=keep_weights
        )
    return result


def _print_run(console: Console, cfg: RunConfig, r: TrainResult, final: bool) -> None:
    head = f"{cfg.model_name} on {cfg.data.describe()} · seed {cfg.seed} · {r.device} · "
    head += f"{r.n_params:,} params · {r.seconds_per_epoch:.2f} s/epoch"
    console.print(head)
    if not r.ok:
        console.print(f"[red]{r.status}[/red]: {r.message}")
        return
    if final:
        console.print(f"final training on train + validation: test accuracy {r.test_accuracy:.4f}")
    else:
        console.print(
            f"validation accuracy {r.val_accuracy:.4f} (best epoch {r.best_epoch}) · "
            f"test accuracy {r.test_accuracy:.4f}"
        )


def _summary(cfg: RunConfig, results: list[TrainResult], final: bool) -> dict[str, Any]:
    runs = [{"seed": cfg.seed + i, **r.to_dict()} for i, r in enumerate(results)]
    for run in runs:
        run.pop("config")
    summary: dict[str, Any] = {"final": final, "status": _overall_status(results)}
    for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss"):
        values = [v for r in runs if (v := r.get(key)) is not None]
        summary[key] = statistics.fmean(values) if values else None
        if len(results) > 1:
            summary[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else None
    summary["seeds"] = [run["seed"] for run in runs]
    summary["runs"] = runs
    return summary


def _overall_status(results: list[TrainResult]) -> str:
    bad = [r.status for r in results if not r.ok]
    return bad[0] if bad else "completed"


def _print_spread(console: Console, summary: dict[str, Any]) -> None:
    n = len(summary["seeds"])
    for key in ("val_accuracy", "test_accuracy"):
        if summary[key] is not None:
            sd = summary.get(f"{key}_sd") or 0.0
            console.print(f"{key.replace('_', ' ')} over {n} seeds: {summary[key]:.4f} ± {sd:.4f}")


def _write_out(
    out: Path, cfg: RunConfig, results: list[TrainResult], summary: dict[str, Any], final: bool
) -> None:
    import torch

    import hpo

    out.mkdir(parents=True, exist_ok=True)
    record = cfg.to_dict()
    record["provenance"] = {
        "seeds": summary["seeds"],
        "final": final,
        "dataset": cfg.data.describe(),
        # The arrays each seed trained and was tested on: the same fingerprint means the
        # same data (generator, split and standardization), whatever the machine.
        "data": [_data_fingerprint(cfg.with_seed(seed), final) for seed in summary["seeds"]],
        "device": results[0].device,
        "hpo_version": hpo.__version__,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    for seed, result, run in zip(summary["seeds"], results, summary["runs"], strict=True):
        if result.weights is not None:
            name = f"weights_seed{seed}.pt"
            torch.save(result.weights, out / name)
            run["weights"] = name
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")


def _data_fingerprint(cfg: RunConfig, final: bool) -> dict[str, Any]:
    """Split sizes and a sha256 over the train and test arrays of one seed's run."""
    import hashlib

    from trainers.data import load_dataset

    data = load_dataset(cfg.data, seed=cfg.seed, val_fraction=0.0 if final else None)
    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        digest.update(array.tobytes())
    return {"seed": cfg.seed, "sizes": data.sizes(), "sha256": digest.hexdigest()}
