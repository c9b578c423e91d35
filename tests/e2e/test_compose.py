"""docker-compose.yml, checked without Docker (no engine runs here): its wiring is parsed and
checked, and the commands its services run are run natively against the local PostgreSQL."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hpo.cli import cli
from hpo.serving import ServeFailed, wait_healthy
from tests.e2e._servers import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
PG_ADMIN = os.environ.get("HPO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    if command[:2] == ["sh", "-c"]:
        return str(command[2])
    return shlex.join(command)


def test_services_and_their_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "api", "worker"}

    postgres = services["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert "pgdata" in compose["volumes"]

    api = services["api"]
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    env = api["environment"]
    assert "@postgres:5432/" in env["HPO_DATABASE_URL"]
    assert env["HPO_DATABASE_URL"].startswith("postgresql://")
    # Tokens come from the environment and are required (`:?` fails `compose up` without).
    for name in ("HPO_API_TOKEN", "HPO_WORKER_TOKEN"):
        assert re.fullmatch(r"\$\{" + name + r":\?.+\}", env[name]), env[name]
    # An optional read token for the team's browsers and dashboards (empty: none).
    assert env["HPO_READ_TOKEN"] == "${HPO_READ_TOKEN:-}"
    assert "HPO_READ_TOKEN" not in services["worker"]["environment"]
    assert "/healthz" in " ".join(api["healthcheck"]["test"])
    assert _command(api).startswith("hpo migrate && ")  # migrate, then serve

    worker = services["worker"]
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    assert "api:8000" in worker["environment"]["HPO_API_URL"]
    assert "HPO_DATABASE_URL" not in worker["environment"]  # workers never touch the database
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    # The image pins the same torch as the project (the CUDA build on a GPU machine).
    assert "pip install" in api["build"]["dockerfile_inline"]
    assert "torch==2.13.0" in (ROOT / "pyproject.toml").read_text()


def test_every_command_names_a_real_cli_command_and_options(compose: dict[str, Any]) -> None:
    for name in ("api", "worker"):
        for part in _command(compose["services"][name]).split("&&"):
            words = shlex.split(part.replace("exec ", ""))
            assert words[0] == "hpo"
            command = cli.get_command(None, words[1])  # type: ignore[arg-type]
            assert command is not None, words
            known = {opt for param in command.params for opt in getattr(param, "opts", [])}
            flags = [w for w in words[2:] if w.startswith("--")]
            assert set(flags) <= known, (words, known)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    name = f"hpo_compose_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        if os.environ.get("HPO_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL not reachable: {e}")
        pytest.skip(f"PostgreSQL not reachable: {e}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_the_compose_commands_run_natively_on_postgresql(
    compose: dict[str, Any], postgres_url: str, tmp_path: Path
) -> None:
    """The api service's command (migrate, then serve) and the worker's, with the environment
    compose gives them, but on loopback and the local PostgreSQL instead of the containers."""
    port = free_port()
    tokens = {
        "HPO_API_TOKEN": "admin-" + uuid.uuid4().hex,
        "HPO_WORKER_TOKEN": "w-" + uuid.uuid4().hex,
    }
    bin_dir = str(Path(sys.executable).parent)
    base = {**os.environ, **tokens, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HPO_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    api_cmd = _command(compose["services"]["api"]).replace("--host 0.0.0.0", "--host 127.0.0.1")
    api_cmd = api_cmd.replace("--port 8000", f"--port {port}")
    api_env = {**base, "HPO_DATABASE_URL": postgres_url, "HPO_LEASE_SECONDS": "30"}
    log = (tmp_path / "api.log").open("wb")
    api = subprocess.Popen(["sh", "-c", api_cmd], env=api_env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    worker = None
    try:
        try:
            wait_healthy(url, api, poll=0.3, ready=lambda r: r.json()["database"] == "postgresql")
        except ServeFailed:
            pytest.fail((tmp_path / "api.log").read_text())
        admin = {"Authorization": f"Bearer {tokens['HPO_API_TOKEN']}"}
        spec = {
            "name": "compose",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
            "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
            "fixed": {"depth": 1, "width": 32},
            "sampler": "random",
            "budget": {"n_trials": 2, "max_parallel": 2},
        }
        created = httpx.post(f"{url}/api/v1/studies", json=spec, headers=admin)
        assert created.status_code == 201, created.text
        worker_cmd = (
            _command(compose["services"]["worker"]).replace("${HPO_SLOTS_PER_GPU:-1}", "1")
            + " --device cpu --exit-when-idle --poll-seconds 0.2"
        )
        worker_env = {**base, "HPO_API_URL": url}
        worker_env.pop("HPO_API_TOKEN")  # the worker service only gets the worker token
        worker = subprocess.run(
            shlex.split(worker_cmd), env=worker_env, capture_output=True, text=True, timeout=180
        )
        assert worker.returncode == 0, worker.stderr
        # Reads need a token too (the admin's here; HPO_READ_TOKEN is optional).
        assert httpx.get(f"{url}/api/v1/studies").status_code == 401
        study = httpx.get(f"{url}/api/v1/studies/{created.json()['id']}", headers=admin).json()
        assert study["state"] == "completed", study
        assert study["counts"]["completed"] == 2
    finally:
        api.send_signal(signal.SIGINT)
        try:
            api.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.kill()
