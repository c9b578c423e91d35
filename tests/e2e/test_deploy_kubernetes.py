"""`hpo deploy kubernetes`, run without a cluster (none runs here): the commands its pods run
are taken out of the printed manifests (command, args, env, the Secret's values) and run
natively against a throwaway PostgreSQL: the API's init container (`hpo migrate`), its server
(`hpo serve`, tokens from the environment), then the Job's worker (`hpo worker --pool ...
--exit-when-idle`), which must train a tiny study to the end and exit 0. Loopback stands in
for the Service's DNS name, a temporary folder for the pods' cache volume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from hpo.cli import cli
from hpo.commands.worker import worker as worker_command
from hpo.serving import ServeFailed, wait_healthy
from tests.e2e._servers import free_port
from tests.e2e.test_compose import postgres_url  # noqa: F401  (the throwaway database)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POOL = "cpu-small"
# TODO(pools): `hpo worker --pool` lands with the pools branch; until then the worker line
# runs with the flag taken out, and the study without `resources`.
WORKER_HAS_POOLS = any("--pool" in getattr(p, "opts", ()) for p in worker_command.params)


def manifests(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["deploy", "kubernetes", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [doc for doc in yaml.safe_load_all(result.output) if doc is not None]


def pod_spec(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return dict(doc["spec"]["template"]["spec"])


def resolve_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """The container's environment as Kubernetes would give it: values, and secretKeyRefs
    looked up in the Secrets of the same stream (an optional key may be missing)."""
    secrets = {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        value = secrets[ref["name"]].get(ref["key"])
        assert value is not None or ref.get("optional"), item
        if value is not None:
            env[item["name"]] = value
    return env


def argv(container: dict[str, Any]) -> list[str]:
    return [*container["command"], *container.get("args", [])]


def test_the_manifests_commands_run_natively_and_train_a_study(
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    docs = manifests(
        "--database-url", postgres_url, "--job", "--gpus-per-worker", "0", "--pool", POOL,
        "--workers", "1",
    )  # fmt: skip
    api_pod = pod_spec(docs, "Deployment", "hpo-api")
    (migrate,) = api_pod["initContainers"]
    (serve,) = api_pod["containers"]
    (worker,) = pod_spec(docs, "Job", f"hpo-worker-{POOL}")["containers"]
    # A Deployment's worker runs the same line, less the Job's --exit-when-idle.
    (deployment_worker,) = pod_spec(
        manifests("--database-url", postgres_url, "--gpus-per-worker", "0", "--pool", POOL),
        "Deployment",
        f"hpo-worker-{POOL}",
    )["containers"]
    assert [a for a in argv(worker) if a != "--exit-when-idle"] == argv(deployment_worker)

    # What a pod has besides its manifest's env: a PATH with hpo on it and a home.
    bin_dir = str(Path(sys.executable).parent)
    base = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path / "home")}
    local = {"HPO_DATA_DIR": str(tmp_path / "data"), "HPO_LEASE_SECONDS": "30"}

    migrated = subprocess.run(
        argv(migrate), env={**base, **local, **resolve_env(migrate, docs)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    assert "at revision" in migrated.stdout

    port = free_port()
    serve_argv = argv(serve)
    assert serve_argv[2:6] == ["--host", "0.0.0.0", "--port", "8000"]
    serve_argv[3], serve_argv[5] = "127.0.0.1", str(port)  # loopback, a free port
    serve_env = {**base, **local, **resolve_env(serve, docs)}
    assert serve_env["HPO_DATABASE_URL"] == postgres_url
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        api = subprocess.Popen(serve_argv, env=serve_env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, api, poll=0.3, ready=lambda r: r.json()["database"] == "postgresql")
        except ServeFailed:
            pytest.fail(log_path.read_text())
        admin = {"Authorization": f"Bearer {serve_env['HPO_API_TOKEN']}"}
        spec: dict[str, Any] = {
            "name": "k8s-native",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
            "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
            "fixed": {"depth": 1, "width": 32},
            "sampler": "random",
            "budget": {"n_trials": 2, "max_parallel": 2},
        }
        if WORKER_HAS_POOLS:
            spec["resources"] = {"pool": POOL}
        created = httpx.post(f"{url}/api/v1/studies", json=spec, headers=admin, timeout=30)
        assert created.status_code == 201, created.text

        worker_env = {**base, **resolve_env(worker, docs)}
        assert worker_env["HPO_API_URL"] == "http://hpo-api:8000"
        assert set(worker_env) >= {"HPO_WORKER_TOKEN"} and "HPO_API_TOKEN" not in worker_env
        worker_env["HPO_API_URL"] = url  # loopback for the Service's name
        worker_env["HPO_CACHE_DIR"] = str(tmp_path / "cache")  # the pod's emptyDir
        worker_argv = argv(worker)
        assert worker_argv[2:4] == ["--pool", POOL]
        if not WORKER_HAS_POOLS:
            del worker_argv[2:4]
        done = subprocess.run(
            worker_argv, env=worker_env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, done.stderr
        study = httpx.get(
            f"{url}/api/v1/studies/{created.json()['id']}", headers=admin, timeout=30
        ).json()
        assert study["state"] == "completed", study
        assert study["counts"]["completed"] == 2
        # The worker's token is the worker scope from the Secret: it may not create studies.
        worker_auth = {"Authorization": f"Bearer {worker_env['HPO_WORKER_TOKEN']}"}
        refused = httpx.post(
            f"{url}/api/v1/studies", json={**spec, "name": f"x-{uuid.uuid4().hex[:6]}"},
            headers=worker_auth, timeout=30,
        )  # fmt: skip
        assert refused.status_code in (401, 403), refused.text
    finally:
        api.send_signal(signal.SIGINT)
        try:
            api.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.kill()
