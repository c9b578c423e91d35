"""`hpo bench`: the sampler benchmark on analytic functions (or, with --latency, the ask/tell
latency benchmark). Figures go to --out as table.md, results.json and figures/*.png."""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from hpo.bench.harness import BenchConfig

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.

DEFAULT_SAMPLERS = "random,tpe,gp,cmaes,qmc,lipo"


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(t) for t in _csv(text))
    except ValueError:
        raise click.BadParameter(f"{what} must be comma-separated integers, e.g. 50,200") from None
    if not values or min(values) < 1:
        raise click.BadParameter(f"{what} must be positive integers, e.g. 50,200")
    return values


def _seeds_for(items: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        name, _, n = item.partition("=")
        if not name or not n.isdigit() or int(n) < 1:
            raise click.BadParameter(
                f"--seeds-for takes NAME=N with N >= 1, e.g. gp=3; got {item!r}"
            )
        out[name.strip()] = int(n)
    return out


@click.command()
@click.option(
    "--samplers",
    default=DEFAULT_SAMPLERS,
    show_default=True,
    help="Comma-separated sampler names; NAME@FACTOR multiplies the objective (scale check). "
    "'dlib' is added when dlib is importable, unless --no-dlib. Peers from other libraries: "
    "nevergrad (NGOpt), skopt (gp_minimize), dlib; skipped with a line when not installed.",
)
@click.option(
    "--functions",
    default="",
    help="Comma-separated function names, NAME+noiseF for a noisy one (default: --suite's).",
)
@click.option(
    "--suite",
    type=click.Choice(["original", "added", "all"]),
    default="original",
    show_default=True,
    help="The functions when --functions is not given: the first benchmark's nine "
    "(earlier figures' command), the ones added with issue 19, or both.",
)
@click.option("--budgets", default="50,200", show_default=True, help="Evaluation budgets.")
@click.option("--seeds", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--seeds-for", multiple=True, help="Fewer seeds for a slow sampler: NAME=N.")
@click.option("--scale-check", is_flag=True, help="Also run lipo@0.001 and lipo@1000.")
@click.option("--no-dlib", is_flag=True, help="Do not add dlib even when it is installed.")
@click.option(
    "--out",
    "out_dir",
    default="bench/out/samplers",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--torch-threads",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="PyTorch threads per run (GP computes in torch); 0 keeps torch's default. More "
    "than one made GP runs several times slower on a loaded 2-core machine.",
)
@click.option(
    "--reuse",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A previous results.json or runs.jsonl: runs found there are not run again.",
)
@click.option("--latency", is_flag=True, help="Run the ask/tell latency benchmark instead.")
def bench(
    samplers: str,
    functions: str,
    suite: str,
    budgets: str,
    seeds: int,
    seeds_for: tuple[str, ...],
    scale_check: bool,
    no_dlib: bool,
    out_dir: Path,
    jobs: int,
    torch_threads: int,
    reuse: tuple[Path, ...],
    latency: bool,
) -> None:
    """Benchmark the samplers on analytic functions with known optima."""
    from rich.console import Console

    console = Console(stderr=True)
    if latency:
        from hpo.bench.latency import latency_table, run_latency

        rows = run_latency(on_row=lambda row: console.log(row.describe()))
        text = latency_table(rows)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "latency.md").write_text(text + "\n")
        click.echo(text)
        return
    names = _functions(functions, suite)
    config = _config(samplers, names, budgets, seeds, seeds_for, scale_check, no_dlib, jobs)
    config = dataclasses.replace(config, torch_threads=torch_threads or None)
    _run_grid(console, config, out_dir, reuse)


def _functions(functions: str, suite: str) -> tuple[str, ...]:
    """The benchmark's functions, each checked by name before anything runs."""
    from hpo.bench.functions import get_problem, problems_of
    from hpo.errors import ValidationError

    names = tuple(_csv(functions)) or problems_of(suite)
    for name in names:
        try:
            get_problem(name)
        except ValidationError as e:
            raise click.BadParameter(str(e), param_hint="--functions") from None
    return names


def _config(
    samplers: str,
    functions: tuple[str, ...],
    budgets: str,
    seeds: int,
    seeds_for: tuple[str, ...],
    scale_check: bool,
    no_dlib: bool,
    jobs: int,
) -> BenchConfig:
    from hpo.bench.harness import BenchConfig
    from hpo.bench.peers import PEERS
    from hpo.bench.runners import DLIB, SamplerSpec, dlib_available

    specs = [SamplerSpec.parse(s) for s in _csv(samplers)]
    missing = [s for s in specs if s.name in PEERS and not PEERS[s.name].available()]
    for spec in missing:  # a peer is an optional install: say so and run the rest
        peer = PEERS[spec.name]
        click.echo(
            f"hpo bench: skipping {spec.label}: {peer.module} is not installed "
            f"(pip install {peer.install}, or pip install -e '.[peers]')",
            err=True,
        )
    specs = [s for s in specs if s not in missing]
    if not specs:
        raise click.UsageError("no sampler left to run (see the lines above)")
    if scale_check:
        specs += [SamplerSpec("lipo", 1e-3), SamplerSpec("lipo", 1e3)]
    if not no_dlib and dlib_available() and all(s.name != DLIB for s in specs):
        specs.append(SamplerSpec(DLIB))
    return BenchConfig(
        samplers=tuple(dict.fromkeys(specs)),
        functions=functions,
        budgets=_ints(budgets, "--budgets"),
        seeds=seeds,
        seeds_for=_seeds_for(seeds_for),
        jobs=jobs,
    )


def _run_grid(
    console: Console, config: BenchConfig, out_dir: Path, reuse: tuple[Path, ...]
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from hpo.bench.harness import load_records, machine_meta, run_benchmark, write_outputs
    from hpo.bench.records import RunRecord

    console.log(
        f"samplers {', '.join(s.label for s in config.samplers)}; "
        f"{len(config.functions)} functions; {config.n_trials} evaluations per run "
        f"(budgets {list(config.budgets)} read off the same runs)"
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("runs", total=None)

        def on_done(record: RunRecord, total: int) -> None:
            if not console.is_terminal:  # a log file gets one line per run instead of a bar
                console.log(
                    f"{record.sampler} {record.function} seed {record.seed}: {record.seconds:.1f} s"
                )
            progress.update(
                task, total=total, advance=1, description=f"{record.sampler} {record.function}"
            )

        previous = [r for path in reuse for r in load_records(path)]
        # Every finished run is appended to the journal; a second call with the same --out
        # picks up where a cut-off one stopped (the journal's runs are reused).
        journal = out_dir / "runs.jsonl"
        if journal.exists():
            resumed = load_records(journal)
            console.log(f"resuming: {len(resumed)} finished runs in {journal}")
            previous += resumed
        records = run_benchmark(config, on_done, previous, journal)
    meta = {**machine_meta(), "command": "hpo bench " + shlex.join(sys.argv[2:])}
    write_outputs(records, config, out_dir, meta)
    click.echo((out_dir / "table.md").read_text())
    console.log(f"wrote {out_dir}/table.md, results.json and figures/")
