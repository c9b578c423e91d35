"""`hpo serve` and `hpo migrate`."""

from __future__ import annotations

import ipaddress
import sys
from typing import TYPE_CHECKING

import click

from hpo.commands._ports import ensure_port_free
from hpo.errors import ValidationError

if TYPE_CHECKING:
    from hpo.settings import Settings

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option(
    "--database-url", envvar="HPO_DATABASE_URL", help="Default: SQLite under the data dir."
)
@click.option("--host", envvar="HPO_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="HPO_PORT", default=8000, show_default=True, type=int)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Bind a non-loopback address without HPO_API_TOKEN (anyone who reaches it is admin).",
)
@click.option(
    "--public-read",
    is_flag=True,
    envvar="HPO_PUBLIC_READ",
    help="Let anyone read studies, trials and comparisons (and the web pages' data) without "
    "a token, as when no token is set; writes still need theirs.",
)
@click.option(
    "--log-level",
    envvar="HPO_LOG_LEVEL",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="info adds one access-log line per request (never headers, and secret-looking query "
    "values redacted, so never tokens).",
)
@click.option(
    "--mlflow-tracking-uri",
    envvar="HPO_MLFLOW_TRACKING_URI",
    help="Log every finished trial as an MLflow run (needs the mlflow extra): an experiment "
    "per study, a comparison's studies as child runs of one parent. Off the request path: "
    "MLflow being down blocks nothing (the backlog is hpo_tracking_backlog on /metrics).",
)
def serve(
    database_url: str | None,
    host: str,
    port: int,
    allow_unauthenticated: bool,
    public_read: bool,
    log_level: str,
    mlflow_tracking_uri: str | None,
) -> None:
    """Start the API (and the web UI) with its reaper; migrates the database first."""
    import logging
    import os

    # The API trains nothing: its torch work is the GP sampler's ask. One torch thread keeps it
    # from spinning a second thread against the request threads (GP's ask at 100 observations:
    # 1.1 s with torch's default 2 threads on the 2-core bench machine, 0.1 s with 1). torch reads
    # this when it is first imported, which in the API is the first GP ask; a user's setting wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import uvicorn

    from hpo.debug.memprobe import start_from_env

    # Opt-in tracemalloc reports (HPO_DEBUG_TRACEMALLOC, see hpo.debug.memprobe); off by
    # default. Started before the app's imports so that their allocations are traced too.
    probe = start_from_env(os.environ)

    from api.access_log import uvicorn_log_config
    from api.app import create_app
    from hpo.settings import Settings

    overrides: dict[str, object] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "public_read": public_read,
    }
    if database_url:
        overrides["database_url"] = database_url
    if mlflow_tracking_uri:
        overrides["mlflow_tracking_uri"] = mlflow_tracking_uri
        from hpo.service.tracking.mlflow_writer import MlflowWriter

        # MLflow 3 refuses its file store unless told it is wanted: naming a file: URI is.
        if mlflow_tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        MlflowWriter(mlflow_tracking_uri)  # the extra missing: one line and exit 2, now
    settings = Settings(**overrides)  # type: ignore[arg-type]
    # Only the admin token protects study writes: a worker token alone leaves them open.
    if settings.api_token is None and not _is_loopback(host) and not allow_unauthenticated:
        raise ValidationError(
            f"refusing to serve on {host} without an admin token: set HPO_API_TOKEN (and "
            "HPO_WORKER_TOKEN for workers), bind 127.0.0.1, or pass --allow-unauthenticated"
        )
    # Before any "serving on" line: a busy port is one clear line and exit 2.
    ensure_port_free(port, host)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if settings.api_token is None:
        click.echo(
            "hpo: no HPO_API_TOKEN set: the API is open to anyone who can reach "
            f"{host}:{port}" + (" (loopback only)" if _is_loopback(host) else ""),
            err=True,
        )
    click.echo(_read_access_line(settings), err=True)
    click.echo(f"hpo: database {_redact(settings.database_url)}", err=True)
    if settings.mlflow_tracking_uri:
        click.echo(
            f"hpo: logging finished trials to MLflow at {settings.mlflow_tracking_uri}", err=True
        )
    click.echo(f"hpo: serving on http://{host}:{port}  (API docs at /docs)", err=True)
    # Keep idle connections open longer than a worker's poll interval: with uvicorn's default
    # of 5 s, a worker's pooled connection is often closed by the server just as the worker
    # reuses it, and the request fails with a read error (the client retries, but the load
    # test counts them: 4 in 20 s at 64 workers).
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        log_config=uvicorn_log_config(),
        timeout_keep_alive=75,
    )
    if probe is not None:
        probe.stop()
        click.echo(f"hpo: memory probe reports in {probe.config.path}", err=True)
    sys.exit(0)


@click.command()
@click.option(
    "--database-url", envvar="HPO_DATABASE_URL", help="Default: SQLite under the data dir."
)
def migrate(database_url: str | None) -> None:
    """Upgrade the database schema to the latest revision."""
    from hpo.settings import Settings
    from hpo.storage import create_engine_for, current_revision
    from hpo.storage import migrate as run_migrations

    settings = Settings(database_url=database_url) if database_url else Settings()
    engine = create_engine_for(settings.database_url)
    try:
        run_migrations(engine)
        click.echo(
            f"database {_redact(settings.database_url)} at revision {current_revision(engine)}"
        )
    finally:
        engine.dispose()


def _read_access_line(settings: Settings) -> str:
    """Who may read, said once at start: --public-read must never open reads unnoticed."""
    if settings.public_read:
        return (
            "hpo: --public-read: anyone who can reach the server reads every study, trial "
            "(worker ids, failure messages) and comparison without a token"
        )
    if settings.reads_need_a_token:
        return "hpo: reads need HPO_READ_TOKEN or the admin token (--public-read opens them)"
    return "hpo: no admin or read token set: reads are open to anyone who can reach the server"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
