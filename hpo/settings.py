"""Service configuration: one typed settings object read from `HPO_*` environment variables.

Build it once at the edge (`hpo serve`, `hpo worker`, tests) and pass it in; nothing in hpo
reads the environment on its own or keeps a module-level instance.

    settings = Settings()                                  # from the environment
    settings = Settings(database_url="postgresql://...")   # explicit values win
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where hpo keeps its embedded database and artifacts: `$XDG_DATA_HOME/hpo` or
    `~/.local/share/hpo` (the XDG default), so a bare `hpo serve` needs no set-up."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "hpo"


def _default_database_url(data: dict[str, Any]) -> str:
    # Derived from data_dir (validated before this field, as it is declared first), so
    # HPO_DATA_DIR alone moves the embedded database too.
    return f"sqlite:///{Path(data['data_dir']) / 'hpo.db'}"


class Settings(BaseSettings):
    """Everything the API server, the reaper and the storage layer need to know.

    Environment variables are the field names upper-cased with the `HPO_` prefix
    (`HPO_DATABASE_URL`, `HPO_API_TOKEN`, ...).
    """

    # No .env file: the environment and explicit arguments are the only sources, so a stray
    # file in the working directory never changes which database a test or server uses.
    model_config = SettingsConfigDict(env_prefix="HPO_", extra="ignore", frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL: sqlite:///path.db or postgresql://user@host/db (psycopg 3).",
    )

    # Authentication: without an admin token, the server must bind to loopback (see `host`).
    # Scopes (api/deps.py): admin writes and reads; worker claims and reports; read reads.
    api_token: SecretStr | None = None
    worker_token: SecretStr | None = None
    read_token: SecretStr | None = None
    # With an admin or read token set, reads need one of them; this opens them to anyone
    # again, on purpose (`hpo serve --public-read` says so at start).
    public_read: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # A worker must heartbeat (or report) within this many seconds or its trial is requeued.
    # Two minutes survives a slow validation pass or a short network blip without holding a
    # dead worker's trial for long.
    lease_seconds: float = Field(default=120.0, gt=0)
    # How often the reaper looks for expired leases; a fraction of the lease keeps the delay
    # between expiry and requeue small.
    reaper_interval_seconds: float = Field(default=15.0, gt=0)
    # Bodies beyond this are refused (413) before parsing: specs and reports are small.
    max_request_bytes: int = Field(default=1_048_576, gt=0)
    # How long a SQLite writer waits for the database lock before giving up (503).
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0)
    # Connections the API keeps to PostgreSQL, and how many more it may open under a burst.
    # Request threads (40) each hold one while they work; with SQLAlchemy's default of 5 kept,
    # a busy server opened and closed connections all the time (a PostgreSQL backend process
    # each: bench/dispatch_throughput.py). Each API replica may hold up to the sum: keep
    # replicas x sum under PostgreSQL's max_connections (100 by default). Ignored for SQLite.
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=20, ge=0)
    # FastAPI's native OpenTelemetry (traces, metrics, logs to the providers you configure).
    # Off by default: its per-request check alone was ~7% of the server's CPU on the worker
    # protocol, and /metrics already exports hpo's own figures in Prometheus format.
    opentelemetry: bool = False
    # Apply pending migrations when the server starts (the embedded default needs no set-up).
    migrate_on_start: bool = True
    log_level: str = "info"
    # The per-process sampler cache (hpo.service.dispatch.sampler_cache) keeps at most this many
    # observations across its studies, counting only what each sampler keeps per observation
    # (random, qmc and grid keep nothing in a space with a continuous parameter; LIPO its numpy rows
    # and losses, TPE/GP/CMA-ES the observations and Optuna's in-memory study). Past it, the least
    # recently used studies are dropped and rebuilt from the database on their next claim; a single
    # study above it is rebuilt on every claim, so keep it above your largest model-based study.
    sampler_cache_max_observations: int = Field(default=200_000, ge=0)
    # Child processes in which busy studies' model-based samplers ask (8+ pending trials: many
    # workers), off the API process's GIL (hpo.samplers._process). One takes the asks off the
    # request threads; more spread many busy studies over more cores. 0: every sampler asks in
    # the API process.
    sampler_processes: int = Field(default=1, ge=0)
    # Caps on what one request may book (hpo.service.budgets): a study's n_trials (at
    # creation and when a PATCH raises it), and a comparison's samplers x repeats. Past them
    # the request gets a 422; the cost of reading a comparison grows with its studies.
    max_trials_per_study: int = Field(default=100_000, ge=1)
    max_studies_per_comparison: int = Field(default=100, ge=1)
    # Absolute folders (as the workers see them, separated by ":") in which a study's dataset
    # may name an absolute path. Empty: only relative paths (looked up under each worker's
    # own data roots) are accepted. `..` is refused either way (hpo.dataset_location).
    dataset_roots: str = ""
    # Long-poll claims (`wait_seconds` in the body of `POST /api/v1/workers/claim`): the
    # longest a claim with no work is held (a larger wait_seconds is clamped to it; 0 turns
    # long-poll off), and how often a held claim asks the database again, for work another
    # API replica created (this replica's own changes wake it at once). A server stop waits
    # for the claims it holds to answer.
    claim_max_wait_seconds: float = Field(default=30.0, ge=0, le=3600)
    claim_recheck_seconds: float = Field(default=1.0, gt=0)
    # Responses of at least this many bytes are gzipped for clients that send
    # `Accept-Encoding: gzip` (api/app.py); smaller ones, most of the worker protocol, are
    # not worth it. 0 turns compression off.
    gzip_min_bytes: int = Field(default=1024, ge=0)
    # Log every finished trial as an MLflow run (the `mlflow` extra): a tracking URI MLflow
    # accepts (file:, http(s)://, sqlite:...); unset: no tracking. A background sink drains
    # an outbox in the database (hpo/service/tracking/), so MLflow being down blocks nothing;
    # it retries every `mlflow_poll_seconds` at most.
    mlflow_tracking_uri: str | None = None
    mlflow_poll_seconds: float = Field(default=2.0, gt=0)

    # Artifacts (checkpoints, outputs, trained weights): kept under `artifacts_dir` (default
    # `<data_dir>/artifacts`). An upload past either limit is refused with a 413 that names it.
    # A checkpoint is rewritten in place, so a study's total grows with its trials' outputs,
    # not with its epochs.
    artifacts_dir: Path | None = None
    max_artifact_bytes: int = Field(default=1 << 30, ge=1)  # 1 GiB: a large model's weights
    max_study_artifact_bytes: int = Field(default=20 << 30, ge=1)  # 20 GiB
    # The log of each attempt keeps its last this many bytes; older lines are dropped and a
    # marker line says how many.
    max_log_bytes_per_attempt: int = Field(default=1 << 20, ge=1024)

    @field_validator("read_token", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # docker-compose passes an unset optional token as "" (`${HPO_READ_TOKEN:-}`).
        return None if value == "" else value

    @field_validator("dataset_roots")
    @classmethod
    def _absolute_roots(cls, value: str) -> str:
        for root in _split_roots(value):
            if not root.startswith("/"):
                raise ValueError(f"HPO_DATASET_ROOTS: {root!r} is not an absolute path")
        return value

    @property
    def artifacts_root(self) -> Path:
        """Where the local artifact store keeps its files."""
        return self.artifacts_dir or self.data_dir / "artifacts"

    @property
    def dataset_root_list(self) -> tuple[str, ...]:
        """`dataset_roots` as a list of folders."""
        return _split_roots(self.dataset_roots)

    @property
    def auth_enabled(self) -> bool:
        """True when any bearer token is configured."""
        return any(t is not None for t in (self.api_token, self.worker_token, self.read_token))

    @property
    def reads_need_a_token(self) -> bool:
        """With an admin or read token set, reads need one of them, unless public_read. With
        neither (no token, the loopback default, or only a worker token, where writes are open
        too) nobody could read with a token, so reads stay open."""
        can_read = self.api_token is not None or self.read_token is not None
        return can_read and not self.public_read


def _split_roots(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(os.pathsep) if part.strip())
