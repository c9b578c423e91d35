"""The `hpo` command line. Each subcommand lives in `hpo/commands/` and is imported lazily,
so `hpo --help` does not pay for torch or optuna."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from hpo.errors import HpoError

# name -> (module, attribute, one-line help). Modules load only when their command runs.
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("hpo.commands.train", "train", "Train one configuration (or --final) and report."),
    "bench": ("hpo.commands.bench", "bench", "Benchmark the samplers on analytic functions."),
    "serve": ("hpo.commands.serve", "serve", "Start the API server (SQLite by default)."),
    "migrate": ("hpo.commands.serve", "migrate", "Upgrade the database schema."),
    "worker": ("hpo.commands.worker", "worker", "Pull trials from the API and train them."),
    "study": ("hpo.commands.study", "study", "Create, list, show, pause, resume, cancel studies."),
    "leaderboard": ("hpo.commands.study", "leaderboard", "The top trials of a study (--watch)."),
    "best": ("hpo.commands.study", "best", "The best config of a study, for --final training."),
    "trials": ("hpo.commands.trials", "trials", "A study's trials, with why each one failed."),
    "compare": ("hpo.commands.compare", "compare", "Compare samplers over seeds; rank them."),
    "demo": ("hpo.commands.demo", "demo", "Server, workers and a small sampler comparison."),
    "export": ("hpo.commands.interop", "export", "Write a study out as JSON or an Optuna study."),
    "import": ("hpo.commands.interop", "import_", "Bring a JSON file or an Optuna study in."),
    "db": ("hpo.commands.interop", "db", "Copy studies between databases (SQLite, PostgreSQL)."),
    "deploy": ("hpo.commands.deploy", "deploy", "Print Kubernetes manifests or a Slurm script."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module_name, attr, _ = _COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="hpo")
def cli() -> None:
    """hpo: hyperparameter optimization as a service."""


def main() -> None:
    try:
        rc = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except HpoError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    # With standalone_mode=False click returns a command's exit code instead of exiting.
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
