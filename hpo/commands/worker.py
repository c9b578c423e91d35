"""`hpo worker`."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # loaded when the command runs, not for `--help`
    from hpo.worker import WorkerOptions

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.

# A token given as --token sits in the process list, readable by every user of the machine.
_TOKEN_ON_COMMAND_LINE = (
    "hpo worker: warning: --token is visible to every user of this machine in the process "
    "list (ps); set HPO_WORKER_TOKEN or use --token-file FILE instead"
)


@click.command()
@click.option(
    "--api",
    envvar="HPO_API_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The API's URL, or several comma-separated (replicas: a request moves to the next "
    "when one does not answer); default $HPO_API_URL.",
)
@click.option(
    "--token",
    envvar=["HPO_TOKEN", "HPO_WORKER_TOKEN"],
    help="Worker (or admin) bearer token; default $HPO_TOKEN, else $HPO_WORKER_TOKEN; prefer "
    "those or --token-file to this flag (a command line is visible to every user).",
)
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the token from this file (its first line).",
)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--gpus", default="all", show_default=True, help="all | 0,1 | none (GPU slots)")
@click.option("--slots-per-device", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="CPU threads per slot.",
)
@click.option("--max-trials", type=click.IntRange(1), help="Exit after this many trials.")
@click.option("--exit-when-idle", is_flag=True, help="Exit when there is no work.")
@click.option(
    "--poll-seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.05),
    help="Wait between claims that found no work, when --wait-seconds is 0.",
)
@click.option(
    "--wait-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.0, 3600.0),
    help="Long-poll: how long the API may hold a claim that finds no work, answering as soon "
    "as a trial appears (capped by the server); 0: poll every --poll-seconds. A stop signal "
    "during a held claim takes effect when it answers.",
)
@click.option(
    "--no-warm-up",
    is_flag=True,
    help="Skip the warm-up (import torch and the trainers, train one tiny batch on the "
    "device) before the first claim.",
)
@click.option(
    "--data-root",
    "data_roots",
    multiple=True,
    envvar="HPO_WORKER_DATA_ROOTS",
    type=click.Path(file_okay=False),
    help="A folder user datasets (csv:/npz:) may be read from; repeatable "
    "[default: $HPO_DATA_DIR/datasets].",
)
@click.option(
    "--max-backoff",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Longest wait between retries while the API is unreachable (seconds).",
)
@click.option(
    "--give-up-after",
    type=click.FloatRange(0.0),
    help="Exit (code 3) once the API has been unreachable this long (seconds); "
    "default: retry forever.",
)
@click.option(
    "--first-backoff",
    type=click.FloatRange(0.01),
    help="First wait between retries while the API is unreachable (seconds; doubles up to "
    "--max-backoff) [default: 1, or --max-backoff if smaller].",
)
@click.option(
    "--claim-backoff",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.0),
    help="First wait after a claim the API failed (seconds; doubles).",
)
@click.option(
    "--max-claim-backoff",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.0),
    help="Longest wait between failed claims (seconds).",
)
@click.option(
    "--heartbeat-seconds",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0.2),
    help="Longest wait between lease renewals while a trial trains (at most a third of the lease).",
)
@click.option(
    "--report-seconds",
    default=1.0,
    show_default=True,
    envvar="HPO_WORKER_REPORT_SECONDS",
    type=click.FloatRange(0.0, 3600.0),
    help="A study without a pruner gets its trials' reports in one request at most this "
    "often (the rest ride with the result); 0: each report as it comes "
    "[$HPO_WORKER_REPORT_SECONDS].",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Where generated datasets are cached [default: $HPO_CACHE_DIR, else ~/.cache/hpo].",
)
@click.option(
    "--worker-id",
    default="",
    help="This worker's name in the API (trial views, logs) [default: HOST-PID-RANDOM]; "
    "GPU slots add -gpuN-SLOT.",
)
@click.option(
    "--allow-commands",
    "allow_commands",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Run command trials (your own scripts) whose workdir resolves inside this folder, "
    "symlinks followed; repeatable. Without it the worker runs built-in trials only and never "
    "claims a command trial.",
)
@click.option(
    "--kill-grace-s",
    "kill_grace_s",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0.0, 3600.0),
    help="A command trial that is stopped (pruned, timed out, worker stopping) gets SIGTERM, "
    "then SIGKILL after this many seconds.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False),
    help="Where each command-trial attempt gets its checkpoint and output folders "
    "[default: $HPO_WORKER_DIR, else a folder under the system's temp dir].",
)
@click.option(
    "--pool",
    "pools",
    multiple=True,
    envvar="HPO_WORKER_POOLS",
    help="A pool this worker serves (studies with `resources: {pool: NAME}`); repeatable "
    "[default: default; $HPO_WORKER_POOLS, space-separated].",
)
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
def worker(
    ctx: click.Context, /, gpus: str, slots_per_device: int, verbose: bool, **_: Any
) -> None:
    """Pull trials from the API and train them (every GPU it sees, or the CPU)."""
    from hpo.outage import ApiGaveUp
    from hpo.worker import Worker, supervise, visible_gpus

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("hpo").setLevel(logging.INFO)
    options = worker_options(ctx)
    try:
        if options.device in ("auto", "cuda") and gpus != "none":
            indices = visible_gpus(gpus)
            if len(indices) * slots_per_device > 1:
                sys.exit(supervise(options, indices, slots_per_device))
        sys.exit(Worker(options).run())
    except ApiGaveUp as e:
        click.echo(f"hpo worker: {e}", err=True)
        sys.exit(3)


def worker_options(ctx: click.Context) -> WorkerOptions:
    """The WorkerOptions that the parsed command line of `hpo worker` asks for."""
    from hpo.worker import WorkerOptions

    p = ctx.params
    max_backoff: float = p["max_backoff"]
    first_backoff: float | None = p["first_backoff"]
    return WorkerOptions(
        api=p["api"],
        token=_token(ctx, p["token"], p["token_file"]),
        device=p["device"],
        threads=p["threads"],
        poll_seconds=p["poll_seconds"],
        wait_seconds=p["wait_seconds"],
        warm_up=not p["no_warm_up"],
        max_trials=p["max_trials"],
        exit_when_idle=p["exit_when_idle"],
        heartbeat_seconds=p["heartbeat_seconds"],
        report_seconds=p["report_seconds"],
        worker_id=p["worker_id"],
        cache_dir=p["cache_dir"],
        data_roots=_data_roots(p["data_roots"]),
        first_backoff_seconds=min(1.0, max_backoff) if first_backoff is None else first_backoff,
        max_backoff_seconds=max_backoff,
        give_up_after_seconds=p["give_up_after"],
        claim_backoff_seconds=p["claim_backoff"],
        max_claim_backoff_seconds=p["max_claim_backoff"],
        allow_commands=_command_roots(p["allow_commands"]),
        kill_grace_seconds=p["kill_grace_s"],
        work_dir=_work_dir(p["work_dir"]),
        pools=_pools(p["pools"]),
    )


def _token(ctx: click.Context, token: str | None, token_file: Path | None) -> str | None:
    from_command_line = ctx.get_parameter_source("token") is click.core.ParameterSource.COMMANDLINE
    if token_file is not None:
        if from_command_line:
            raise click.UsageError("give --token or --token-file, not both")
        lines = token_file.read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            raise click.UsageError(f"--token-file {token_file}: the file is empty")
        return token
    if from_command_line:
        click.echo(_TOKEN_ON_COMMAND_LINE, err=True)
    return token


def _command_roots(given: tuple[str, ...]) -> tuple[str, ...]:
    """The --allow-commands folders, resolved (symlinks followed: a workdir is compared with
    where a root really is); one that does not exist is a usage error, not a silent no."""
    roots = []
    for root in given:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise click.BadParameter(f"{root} is not a folder", param_hint="--allow-commands")
        roots.append(str(path.resolve()))
    return tuple(roots)


def _work_dir(given: str | None) -> str | None:
    chosen = given or os.environ.get("HPO_WORKER_DIR")
    return None if not chosen else str(Path(chosen).expanduser().resolve())


def _pools(given: tuple[str, ...]) -> tuple[str, ...]:
    from hpo.errors import ValidationError
    from hpo.pools import check_pools

    try:
        return check_pools(given, field="--pool")
    except ValidationError as e:
        raise click.BadParameter(str(e), param_hint="--pool") from None


def _data_roots(given: tuple[str, ...]) -> tuple[str, ...]:
    """The folders user datasets may come from, resolved; default `$HPO_DATA_DIR/datasets`
    (which need not exist: then only built-in datasets train)."""
    if not given:
        from hpo.settings import default_data_dir

        data_dir = os.environ.get("HPO_DATA_DIR") or str(default_data_dir())
        return (str((Path(data_dir) / "datasets").expanduser().resolve()),)
    roots = tuple(str(Path(root).expanduser().resolve()) for root in given)
    for root in roots:
        if not Path(root).is_dir():
            logging.getLogger("hpo.worker").warning(
                "data root %s does not exist: user datasets there will not be found", root
            )
    return roots
