"""`hpo deploy kubernetes`: what it prints is checked against the Kubernetes API's own schemas
(offline: kubernetes-validate ships them, strict mode, so an unknown or misspelt field fails),
KEDA's ScaledObject by hand (a CRD those schemas lack: tests/unit/_keda_shape.py), and the
wiring between the objects. The commands the pods run are run natively in
tests/e2e/test_deploy_kubernetes.py."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hpo.cli import cli
from hpo.deploy.autoscale import slots_query
from hpo.errors import HpoError
from tests.unit._keda_shape import scaled_object_problems

kubernetes_validate = pytest.importorskip("kubernetes_validate")

pytestmark = pytest.mark.unit

# The oldest Kubernetes these manifests are for (policy/v1, Indexed Jobs GA) and the newest
# whose schemas the package ships.
VERSIONS = ("1.27.0", kubernetes_validate.latest_version())

VARIANTS: dict[str, list[str]] = {
    "statefulset": ["--postgres-statefulset"],
    "external-pools": [
        "--database-url", "postgresql://hpo:pw@db.example:5432/hpo", "--pool", "a100",
        "--pool", "h100.big", "--workers", "4", "--gpus-per-worker", "8", "--namespace", "ml",
    ],
    "job-cpu": ["--postgres-statefulset", "--job", "--workers", "8", "--gpus-per-worker", "0"],
    "autoscale": [
        "--postgres-statefulset", "--autoscale-max", "16", "--pool", "a100",
        "--token-secret", "team-tokens", "--api-replicas", "3",
        "--prometheus-url", "http://prom.example:9090",
    ],
    "one-replica": ["--postgres-statefulset", "--api-replicas", "1", "--image", "r.io/hpo:1"],
}  # fmt: skip


def deploy(*args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["deploy", "kubernetes", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [doc for doc in yaml.safe_load_all(result.output) if doc is not None]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, [(d["kind"], d["metadata"]["name"]) for d in docs]
    return found[0]


def container(pod_owner: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_owner["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_object_is_valid_for_the_kubernetes_api(variant: str, version: str) -> None:
    docs = deploy(*VARIANTS[variant])
    checked = 0
    for doc in docs:
        if doc["kind"] == "ScaledObject":
            assert scaled_object_problems(doc) == []
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {str(e)[:600]}")
        checked += 1
    assert checked >= 6


def test_the_validation_does_catch_a_bad_field() -> None:
    """The strict schemas refuse a misspelt field, so the test above can fail."""
    deployment = one(deploy("--postgres-statefulset"), "Deployment", "hpo-api")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_the_keda_shape_check_catches_what_keda_would_refuse() -> None:
    docs = deploy(*VARIANTS["autoscale"])
    scaled = one(docs, "ScaledObject", "hpo-worker-a100")
    broken = yaml.safe_load(yaml.safe_dump(scaled))
    del broken["spec"]["triggers"][0]["metadata"]["query"]
    broken["spec"]["triggers"][0]["metadata"]["threshold"] = 1
    broken["spec"]["minReplicas"] = 0
    problems = scaled_object_problems(broken)
    assert any("query" in p for p in problems)
    assert any("threshold must be a string" in p for p in problems)
    assert any("minReplicas" in p for p in problems)


def test_the_api_migrates_then_serves_with_tokens_from_the_secret() -> None:
    docs = deploy("--postgres-statefulset")
    secret = one(docs, "Secret", "hpo-tokens")
    assert set(secret["stringData"]) == {"admin-token", "worker-token", "read-token"}
    assert len(set(secret["stringData"].values())) == 3  # three different tokens
    api = one(docs, "Deployment", "hpo-api")
    assert api["spec"]["replicas"] == 2
    pod = api["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["command"] == ["hpo", "migrate"]
    serve = container(api, "api")
    assert serve["command"] + serve["args"][:1] == ["hpo", "serve", "--host"]
    env = env_of(serve)
    assert env["HPO_API_TOKEN"] == {"secretKeyRef": {"name": "hpo-tokens", "key": "admin-token"}}
    assert env["HPO_WORKER_TOKEN"]["secretKeyRef"]["key"] == "worker-token"
    assert env["HPO_DATABASE_URL"]["secretKeyRef"] == {"name": "hpo-database", "key": "url"}
    assert env_of(init)["HPO_DATABASE_URL"] == env["HPO_DATABASE_URL"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert serve[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert serve["resources"]["requests"]["cpu"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["terminationGracePeriodSeconds"] > 30  # held long-poll claims answer first
    assert serve["securityContext"]["allowPrivilegeEscalation"] is False
    # The Service and the disruption budget select exactly the API's pods.
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert one(docs, "Service", "hpo-api")["spec"]["selector"] == labels
    assert one(docs, "PodDisruptionBudget", "hpo-api")["spec"]["selector"]["matchLabels"] == labels


def test_postgres_statefulset_keeps_its_data_and_says_when_ready() -> None:
    docs = deploy("--postgres-statefulset", "--postgres-storage", "50Gi")
    database = one(docs, "Secret", "hpo-database")["stringData"]
    assert database["url"] == f"postgresql://hpo:{database['password']}@hpo-postgres:5432/hpo"
    pg = one(docs, "StatefulSet", "hpo-postgres")
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "50Gi"
    }
    readiness = container(pg, "postgres")["readinessProbe"]["exec"]["command"]
    assert readiness[0] == "pg_isready"
    assert env_of(container(pg, "postgres"))["POSTGRES_PASSWORD"]["secretKeyRef"]["key"] == (
        "password"
    )
    assert one(docs, "Service", "hpo-postgres")["spec"]["clusterIP"] == "None"


def test_an_external_database_is_a_secret_and_no_statefulset() -> None:
    url = "postgresql://hpo:pw@db.example:5432/hpo"
    docs = deploy("--database-url", url)
    assert one(docs, "Secret", "hpo-database")["stringData"] == {"url": url}
    assert not [d for d in docs if d["kind"] == "StatefulSet"]


def test_a_worker_deployment_per_pool_asks_for_gpus_and_time_to_hand_back() -> None:
    docs = deploy(*VARIANTS["external-pools"], "--grace-seconds", "900")
    for pool, name in (("a100", "hpo-worker-a100"), ("h100.big", "hpo-worker-h100-big")):
        workers = one(docs, "Deployment", name)
        assert workers["metadata"]["namespace"] == "ml"
        assert workers["spec"]["replicas"] == 4
        assert workers["spec"]["template"]["metadata"]["labels"]["hpo/pool"] == pool
        pod = workers["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] == 900
        worker = container(workers, "worker")
        assert worker["command"] == ["hpo", "worker"]
        assert worker["args"][:2] == ["--pool", pool]
        assert worker["resources"]["limits"]["nvidia.com/gpu"] == 8
        env = env_of(worker)
        assert env["HPO_API_URL"] == "http://hpo-api:8000"
        assert env["HPO_WORKER_TOKEN"]["secretKeyRef"]["key"] == "worker-token"
        assert "HPO_API_TOKEN" not in env and "HPO_DATABASE_URL" not in env  # worker scope only
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_job_mode_is_an_indexed_job_of_workers_that_exit_when_idle() -> None:
    docs = deploy(*VARIANTS["job-cpu"])
    assert not [d for d in docs if d["kind"] == "Deployment" and "worker" in d["metadata"]["name"]]
    job = one(docs, "Job", "hpo-worker-default")
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == job["spec"]["completions"] == 8
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    worker = container(job, "worker")
    assert "--exit-when-idle" in worker["args"]
    assert worker["args"][-3:-1] == ["--device", "cpu"]
    assert "limits" not in worker["resources"]  # --gpus-per-worker 0: no GPU asked for


def test_autoscale_is_a_scaled_object_from_zero_on_the_slots_gauge() -> None:
    docs = deploy(*VARIANTS["autoscale"], "--gpus-per-worker", "4")
    workers = one(docs, "Deployment", "hpo-worker-a100")
    assert "replicas" not in workers["spec"]  # KEDA owns the count; a re-apply keeps it
    assert env_of(container(workers, "worker"))["HPO_WORKER_TOKEN"]["secretKeyRef"]["name"] == (
        "team-tokens"
    )
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "hpo-tokens"]
    scaled = one(docs, "ScaledObject", "hpo-worker-a100")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "hpo-worker-a100"
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (0, 16)
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"] == "http://prom.example:9090"
    assert 'hpo_claimable_slots{pool="a100"}' in trigger["metadata"]["query"]
    assert trigger["metadata"]["query"] == slots_query("a100")
    assert trigger["metadata"]["threshold"] == "4"  # one pod per 4 slots (its 4 GPUs)


def test_the_slots_query_counts_running_trials_so_busy_workers_are_kept() -> None:
    """Claimable slots alone fall to 0 once every slot is busy; scaling on them would kill
    workers mid-trial. The query adds the running trials (0 when there is no series)."""
    query = slots_query("a100")
    assert query.startswith('max(hpo_claimable_slots{pool="a100"}) + ')
    assert '(max(hpo_trials{state="running"}) or vector(0))' in query


BAD: list[tuple[list[str], str]] = [
    ([], "--database-url"),
    (["--postgres-statefulset", "--database-url", "postgresql://x/y"], "not both"),
    (["--database-url", "sqlite:///hpo.db"], "SQLite cannot be shared"),
    (["--postgres-statefulset", "--job", "--autoscale-max", "4"], "--autoscale-max"),
    (["--postgres-statefulset", "--workers", "3", "--autoscale-max", "4"], "--workers"),
    (["--postgres-statefulset", "--prometheus-url", "http://p:9090"], "--autoscale-max"),
    (["--postgres-statefulset", "--pool", "A100"], "not a pool name"),
    (["--postgres-statefulset", "--pool", "a.b", "--pool", "a_b"], "same object name"),
    (["--postgres-statefulset", "--namespace", "Team_ML"], "not a Kubernetes name"),
    (["--postgres-statefulset", "--workers", "0"], "--workers 0"),
    (["--postgres-statefulset", "--grace-seconds", "5"], "--grace-seconds"),
    (["--postgres-statefulset", "--postgres-storage", "lots"], "--postgres-storage"),
]


@pytest.mark.parametrize(("args", "says"), BAD, ids=[" ".join(a) or "none" for a, _ in BAD])
def test_a_bad_combination_is_refused_with_what_to_change(args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, ["deploy", "kubernetes", *args])
    assert isinstance(result.exception, HpoError), result.output
    assert says in str(result.exception)
    assert result.output == ""  # nothing half-printed for kubectl to apply


def test_the_command_line_says_it_in_one_line_and_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hpo.cli", "deploy", "kubernetes", "--database-url", "sqlite://"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --database-url must be a postgresql:// URL")
