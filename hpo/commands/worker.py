"""`hpo worker`."""

from __future__ import annotations

import logging
import sys

import click


@click.command()
@click.option(
    "--api",
    envvar="HPO_API_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The API's URL; default $HPO_API_URL.",
)
@click.option(
    "--token",
    envvar=["HPO_TOKEN", "HPO_WORKER_TOKEN"],
    help="Worker (or admin) bearer token; default $HPO_TOKEN, else $HPO_WORKER_TOKEN.",
)
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--gpus", default="all", show_default=True, help="all | 0,1 | none (GPU slots)")
@click.option("--slots-per-device", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 256),
              help="CPU threads per slot.")  # fmt: skip
@click.option("--max-trials", type=click.IntRange(1), help="Exit after this many trials.")
@click.option("--exit-when-idle", is_flag=True, help="Exit when there is no work.")
@click.option("--poll-seconds", default=2.0, show_default=True, type=click.FloatRange(0.05))
@click.option("-v", "--verbose", is_flag=True)
def worker(
    api: str,
    token: str | None,
    device: str,
    gpus: str,
    slots_per_device: int,
    threads: int,
    max_trials: int | None,
    exit_when_idle: bool,
    poll_seconds: float,
    verbose: bool,
) -> None:
    """Pull trials from the API and train them (every GPU it sees, or the CPU)."""
    from hpo.worker import Worker, WorkerOptions, supervise, visible_gpus

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("hpo").setLevel(logging.INFO)
    options = WorkerOptions(
        api=api,
        token=token,
        device=device,
        threads=threads,
        poll_seconds=poll_seconds,
        max_trials=max_trials,
        exit_when_idle=exit_when_idle,
    )
    if device in ("auto", "cuda") and gpus != "none":
        indices = visible_gpus(gpus)
        if len(indices) * slots_per_device > 1:
            sys.exit(supervise(options, indices, slots_per_device))
    sys.exit(Worker(options).run())
