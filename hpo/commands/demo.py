"""`hpo demo`: the main job on the embedded default, in one command.

It starts `hpo serve` (SQLite under --data-dir) and local `hpo worker` processes, runs a small
sampler comparison (grid, random, TPE and LIPO on the MNIST-1D MLP space of
search_spaces/compare_mlp_mnist1d.yaml, with a demo-sized budget), shows live progress, prints
the leaderboard, the comparison table and the web page's URL, then stays up until Ctrl-C
(or stops everything and exits with --exit).

The children run in their own sessions, so a Ctrl-C in the terminal reaches only this
process, which stops the workers first (they hand their trials back) and then the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from hpo.commands._demo_steps import NextSteps
from hpo.commands._ports import ensure_port_free
from hpo.commands._tables import Column, Sheet, rich_table
from hpo.errors import HpoError
from hpo.serving import ServeFailed, start_serve, wait_healthy

if TYPE_CHECKING:  # the client (and pydantic behind it) load when the demo runs, not at --help
    from hpo.client import Client
    from hpo.wire import TrialView

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.

SHIPPED_SPEC = Path(__file__).resolve().parents[2] / "search_spaces" / "compare_mlp_mnist1d.yaml"
DEMO_SAMPLERS = "grid,random,tpe,lipo"
# Environment the demo's children must not inherit: the demo is its own SQLite database on
# loopback, with no tokens, whatever the user's shell has configured for a real deployment.
_NOT_INHERITED = (
    "HPO_DATABASE_URL",
    "HPO_API_TOKEN",
    "HPO_WORKER_TOKEN",
    "HPO_READ_TOKEN",
    "HPO_TOKEN",
    "HPO_API_URL",
    "HPO_PUBLIC_READ",
    "HPO_HOST",
    "HPO_PORT",
)


class DemoError(HpoError):
    """The demo could not start its server or workers."""


@click.command()
@click.option(
    "--exit",
    "exit_when_done",
    is_flag=True,
    help="Stop the server and workers and exit once the comparison is done.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".hpo-demo"),
    show_default=True,
    help="The demo's SQLite database and the server and worker logs.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=min(4, os.cpu_count() or 1),
    show_default="CPU cores, at most 4",
    help="Local worker processes.",
)
@click.option(
    "--trials",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="Trials per sampler and seed.",
)
@click.option(
    "--repeats", type=click.IntRange(1), default=3, show_default=True, help="Seeds per sampler."
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Training epochs per trial.",
)
@click.option("--samplers", default=DEMO_SAMPLERS, show_default=True)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=SHIPPED_SPEC,
    show_default="search_spaces/compare_mlp_mnist1d.yaml",
    help="The comparison to run (its budget is replaced by the options above).",
)
def demo(
    exit_when_done: bool,
    port: int,
    data_dir: Path,
    workers: int,
    trials: int,
    repeats: int,
    epochs: int,
    samplers: str,
    spec_path: Path,
) -> None:
    """Start a server and workers, run a small sampler comparison, show the results."""
    from hpo.client import Client
    from hpo.commands.compare import (
        cli_overrides,
        comparison_table,
        final_training,
        print_verdict,
        read_comparison_spec,
        watch_comparison,
    )

    overrides = cli_overrides(samplers, trials, repeats, None, "demo")
    spec = read_comparison_spec(spec_path, {**overrides, "task": {"epochs": epochs}})
    ensure_port_free(port)
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    console = Console()
    names = ", ".join(s["name"] for s in spec["samplers"])
    console.print(
        f"[bold]hpo demo[/bold]: {names} x {repeats} seed(s) x {trials} trials of an MLP on "
        f"MNIST-1D ({epochs} epoch(s) each), {workers} local worker(s)"
    )
    finished = False
    with _stop_on_sigterm(), _children(url, port, data_dir, workers, console) as children:
        try:
            client = Client(url, retries=3)
            view = client.create_comparison(spec)
            console.print(
                f"web page: {url}/  (this comparison: {url}/comparisons/{view['id']})",
                soft_wrap=True,
            )
            view = watch_comparison(
                client, int(view["id"]), console, poll_seconds=1.0, on_poll=children.check
            )
            finished = True
            console.print(leaderboard_table(client, view, console))
            if view["results"] and view["results"][0]["median_best"] is not None:
                # The ranking's winner, retrained on train + validation: its test accuracy
                # lands in the comparison's final column (and on the page).
                winner = str(view["results"][0]["sampler"])
                final_training(client, view, console, samplers=[winner])
                view = client.get_comparison(int(view["id"]))
            console.print(comparison_table(view))
            print_verdict(view, console)
            steps = NextSteps(url, port, data_dir, view)
            console.print(steps.closing(serving=not exit_when_done), soft_wrap=True)
            if not exit_when_done:
                console.print(f"serving {url}/ until Ctrl-C")
                while True:
                    time.sleep(2)
                    children.check()
        except KeyboardInterrupt:
            console.print("stopping the workers and the server")
    if not finished:
        sys.exit(130)


def leaderboard_table(client: Client, view: dict[str, Any], console: Console, k: int = 10) -> Table:
    """The top k completed trials over every study of the comparison, best first."""
    rows: list[tuple[dict[str, Any], TrialView]] = []
    for study in view["studies"]:
        for trial in client.leaderboard(int(study["id"]), k):
            rows.append((study, trial))
    rows.sort(key=lambda r: r[1].value or 0.0, reverse=view["direction"] == "maximize")
    sheet = Sheet(
        title=f"leaderboard: the top {k} trials of comparison {view['id']}",
        columns=[Column("#", "right", key=True), Column("sampler", key=True),
                 Column("seed", "right", key=True), Column("study", "right", key=True),
                 Column("trial", "right", key=True),
                 Column(view["objective"], "right", key=True), Column("params")],
        simple_box=True,
    )  # fmt: skip
    for rank, (study, trial) in enumerate(rows[:k], 1):
        params = ", ".join(f"{n}={_short(v)}" for n, v in trial.params.items())
        sheet.add(str(rank), study["sampler"], str(study["seed"]), str(study["id"]),
                  str(trial.number), f"{trial.value:.4f}", params)  # fmt: skip
    return rich_table(sheet, console)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (e.g. from a test harness or `kill`) stops the demo like Ctrl-C does."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Children:
    """The demo's server and worker processes, started in their own sessions."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.data_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hpo.cli", *args], env=self.env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.processes.append((name, process))
        return process

    def start_server(self, url: str, port: int) -> subprocess.Popen[bytes]:
        """`hpo serve` on `port`, healthy (hpo.serving), logging to serve.log."""
        log = self.data_dir / "serve.log"
        server = start_serve(port, env=self.env, log=log, append=True, new_session=True)
        self.processes.append(("serve", server))
        try:
            wait_healthy(url, server)
        except ServeFailed as e:
            if e.returncode is not None:
                raise DemoError(
                    f"hpo serve exited with code {e.returncode}: {_last_line(log)}"
                ) from None
            raise DemoError(f"hpo serve did not answer on {url} within 60 s; see {log}") from None
        return server

    def check(self) -> None:
        """Fail instead of waiting forever when the server or every worker has died."""
        dead = [(n, p) for n, p in self.processes if p.poll() is not None]
        workers = [n for n, _ in self.processes if n != "serve"]
        if any(n == "serve" for n, _ in dead) or len(dead) == len(workers) > 0:
            name, process = dead[0]
            raise DemoError(
                f"{name} exited with code {process.returncode}: "
                f"{_last_line(self.data_dir / f'{name}.log')} (see {self.data_dir}/{name}.log)"
            )

    def stop(self, console: Console) -> None:
        """SIGINT to each, workers first (the server takes their trials back), then wait;
        SIGKILL for one that hangs."""
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                console.print(f"{name} (pid {process.pid}) did not stop in 30 s: killing it")
                process.kill()
                process.wait()
        if self.processes:
            console.print("stopped the server and the workers")


@contextmanager
def _children(
    url: str, port: int, data_dir: Path, workers: int, console: Console
) -> Iterator[_Children]:
    """Run `hpo serve` and the workers for the duration of the block; always stop them."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env["HPO_DATA_DIR"] = str(data_dir.resolve())
    children = _Children(data_dir, env)
    try:
        server = children.start_server(url, port)
        for i in range(workers):
            children.start(f"worker-{i + 1}", "worker", "--api", url, "--threads", "1")
        pids = ", ".join(str(p.pid) for name, p in children.processes if name != "serve")
        console.print(
            f"started hpo serve on {url} (pid {server.pid}, database "
            f"{data_dir / 'hpo.db'}) and {workers} worker(s) (pids {pids}); logs in {data_dir}/",
            soft_wrap=True,
        )
        yield children
    finally:
        children.stop(console)


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "(no output)"
