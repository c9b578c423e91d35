"""`hpo deploy kubernetes`: the manifests for hpo on a Kubernetes cluster, as one YAML stream
for `kubectl apply -f -`.

What it describes (the same processes as docker-compose.yml): a Namespace; the tokens' Secret
(generated, or an existing one named by --token-secret); the database (`postgres.py`); the API
as a Deployment of `hpo serve` replicas whose init container runs `hpo migrate`, probed on
/healthz, behind a Service and a PodDisruptionBudget; per pool, the workers as a Deployment
(or an Indexed Job of `hpo worker --exit-when-idle`) requesting `nvidia.com/gpu`, with a
termination grace longer than an epoch so a SIGTERM hands the trial back; with
--autoscale-max, a KEDA ScaledObject per pool (`autoscale.py`). Placement, restarts and GPU
allocation stay with Kubernetes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from hpo.deploy import postgres
from hpo.deploy._k8s_parts import (
    API_PORT,
    HPO_UID,
    Manifest,
    container_security,
    healthz_probe,
    labels,
    metadata,
    pod_security,
    secret_env,
    value_env,
)
from hpo.deploy.autoscale import DEFAULT_PROMETHEUS_URL, scaled_object
from hpo.deploy.pools import DEFAULT_POOL, check_pool, object_suffix
from hpo.errors import ValidationError

TOKENS_SECRET = "hpo-tokens"
# The keys of the tokens' Secret, generated or brought with --token-secret.
ADMIN_KEY, WORKER_KEY, READ_KEY = "admin-token", "worker-token", "read-token"
API_NAME = "hpo-api"
GPU_RESOURCE = "nvidia.com/gpu"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?")
_POSTGRES_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


@dataclass(frozen=True)
class KubernetesPlan:
    """What to deploy, checked on construction (each error names the flag to change).

    `workers` None: one worker pod per pool, or none fixed when autoscaled."""

    namespace: str = "hpo"
    image: str = "hpo:latest"
    workers: int | None = None
    gpus_per_worker: int = 1
    pools: tuple[str, ...] = (DEFAULT_POOL,)
    database_url: str | None = None
    postgres_statefulset: bool = False
    postgres_storage: str = "20Gi"
    autoscale_max: int | None = None
    prometheus_url: str | None = None
    api_replicas: int = 2
    token_secret: str | None = None
    job: bool = False
    grace_seconds: int = 600

    def __post_init__(self) -> None:
        _check_name("--namespace", self.namespace, _DNS_LABEL)
        if self.token_secret is not None:
            _check_name("--token-secret", self.token_secret, _DNS_SUBDOMAIN)
        if not self.image or any(c.isspace() for c in self.image):
            raise ValidationError(f"--image {self.image!r}: give an image reference, no spaces")
        self._check_database()
        self._check_workers()
        suffixes = [object_suffix(check_pool(p)) for p in self.pools]
        if len(set(suffixes)) != len(suffixes):
            raise ValidationError(
                f"--pool {', '.join(self.pools)}: two pools give the same object name "
                "(`.` and `_` become `-`); rename one"
            )
        for name in map(worker_name, self.pools):
            _check_name("--pool", name, _DNS_LABEL, what="the worker object name")

    def _check_database(self) -> None:
        if self.database_url is not None and self.postgres_statefulset:
            raise ValidationError("give --database-url URL or --postgres-statefulset, not both")
        if self.database_url is None and not self.postgres_statefulset:
            raise ValidationError(
                "say where the database is: --database-url postgresql://... (a PostgreSQL "
                "the cluster reaches) or --postgres-statefulset (one in the cluster)"
            )
        if self.database_url is not None and not self.database_url.startswith(_POSTGRES_SCHEMES):
            raise ValidationError(
                "--database-url must be a postgresql:// URL: the API replicas share one "
                "database, and SQLite cannot be shared between pods"
            )
        if not _QUANTITY.fullmatch(self.postgres_storage):
            raise ValidationError(
                f"--postgres-storage {self.postgres_storage!r}: give a size such as 20Gi"
            )

    def _check_workers(self) -> None:
        for flag, value, low in (
            ("--workers", self.workers, 1),
            ("--gpus-per-worker", self.gpus_per_worker, 0),
            ("--autoscale-max", self.autoscale_max, 1),
            ("--api-replicas", self.api_replicas, 1),
            ("--grace-seconds", self.grace_seconds, 30),
        ):
            if value is not None and value < low:
                raise ValidationError(f"{flag} {value}: give {low} or more")
        if self.autoscale_max is not None and self.job:
            raise ValidationError(
                "--autoscale-max scales worker Deployments; a --job runs a fixed number of "
                "workers that exit when idle: give one of the two"
            )
        if self.autoscale_max is not None and self.workers is not None:
            raise ValidationError(
                "--workers fixes the worker count; --autoscale-max lets KEDA choose 0 to N: "
                "give one of the two"
            )
        if self.prometheus_url is not None and self.autoscale_max is None:
            raise ValidationError("--prometheus-url is where KEDA reads; give --autoscale-max")

    @property
    def fixed_workers(self) -> int:
        return 1 if self.workers is None else self.workers

    @property
    def slots_per_pod(self) -> int:
        return max(1, self.gpus_per_worker)  # one slot per GPU; a CPU worker is one slot


def worker_name(pool: str) -> str:
    return f"hpo-worker-{object_suffix(pool)}"


def kubernetes_manifests(
    plan: KubernetesPlan, new_secret: Callable[[], str] = lambda: secrets.token_hex(24)
) -> list[Manifest]:
    """Every object, in the order `kubectl apply` should create them (the Secrets before the
    pods that read them). `new_secret` makes each generated token and password."""
    ns = plan.namespace
    docs: list[Manifest] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
    ]
    if plan.token_secret is None:
        docs.append(_tokens_secret(ns, new_secret))
    if plan.database_url is not None:
        docs.append(postgres.database_secret(ns, plan.database_url, None))
    else:  # --postgres-statefulset (KubernetesPlan asks for one of the two)
        password = new_secret()
        docs.append(postgres.database_secret(ns, postgres.statefulset_url(password), password))
        docs += [
            postgres.postgres_service(ns),
            postgres.postgres_statefulset(ns, plan.postgres_storage),
        ]
    docs += [_api_deployment(plan), _api_service(ns)]
    if plan.api_replicas >= 2:
        docs.append(_api_disruption_budget(ns))
    for pool in plan.pools:
        if plan.job:
            docs.append(_worker_job(plan, pool))
            continue
        docs.append(_worker_deployment(plan, pool))
        if plan.autoscale_max is not None:
            docs.append(
                scaled_object(
                    deployment=worker_name(pool),
                    namespace=ns,
                    pool=pool,
                    max_replicas=plan.autoscale_max,
                    slots_per_pod=plan.slots_per_pod,
                    prometheus_url=plan.prometheus_url or DEFAULT_PROMETHEUS_URL,
                )
            )
    return docs


class _PlainDumper(yaml.SafeDumper):
    """No `&id001` anchors where two objects share a dict (the database env): plainer for
    a person to read, and hpo's own YAML loader refuses aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def render_manifests(plan: KubernetesPlan, docs: list[Manifest]) -> str:
    head = ["# hpo on Kubernetes, from `hpo deploy kubernetes`: kubectl apply -f THIS_FILE"]
    if plan.token_secret is None or plan.postgres_statefulset:
        head += [
            "# It holds generated secrets: keep it private and apply this same file again.",
            "# A new run makes new tokens and passwords (a PostgreSQL volume keeps its first).",
        ]
    if plan.autoscale_max is not None:
        head += [
            "# Autoscaling needs KEDA, and a Prometheus that scrapes the API's /metrics with",
            f"# the read token (Secret {_tokens(plan)}, key {READ_KEY}).",
        ]
    body = yaml.dump_all(
        docs, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, width=1000
    )
    return "\n".join(head) + "\n" + body


def _check_name(flag: str, value: str, pattern: re.Pattern[str], what: str = "") -> None:
    if not pattern.fullmatch(value):
        raise ValidationError(
            f"{flag}: {what or repr(value)} ({value!r}) is not a Kubernetes name: lower-case "
            "letters, digits and '-', at most 63, starting and ending with a letter or digit"
        )


def _tokens_secret(namespace: str, new_secret: Callable[[], str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(TOKENS_SECRET, namespace, "tokens"),
        "type": "Opaque",
        # Admin: every write; worker: claim and report only; read: dashboards and Prometheus.
        "stringData": {ADMIN_KEY: new_secret(), WORKER_KEY: new_secret(), READ_KEY: new_secret()},
    }


def _tokens(plan: KubernetesPlan) -> str:
    return plan.token_secret or TOKENS_SECRET


def _api_deployment(plan: KubernetesPlan) -> Manifest:
    database = secret_env("HPO_DATABASE_URL", postgres.DATABASE_SECRET, "url")
    tokens = _tokens(plan)
    migrate: Manifest = {
        "name": "migrate",
        "image": plan.image,
        "command": ["hpo", "migrate"],
        "env": [database],
        "securityContext": container_security(),
    }
    serve: Manifest = {
        "name": "api",
        "image": plan.image,
        "command": ["hpo", "serve"],
        "args": ["--host", "0.0.0.0", "--port", str(API_PORT)],
        "ports": [{"name": "http", "containerPort": API_PORT}],
        "env": [
            database,
            secret_env("HPO_API_TOKEN", tokens, ADMIN_KEY),
            secret_env("HPO_WORKER_TOKEN", tokens, WORKER_KEY),
            # Optional in a Secret brought with --token-secret: then reads need the admin token.
            secret_env("HPO_READ_TOKEN", tokens, READ_KEY, optional=True),
        ],
        "readinessProbe": healthz_probe(period=5, failures=2),
        "livenessProbe": healthz_probe(period=10, failures=6, initial_delay=15),
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "securityContext": container_security(),
    }
    pod: Manifest = {
        "securityContext": pod_security(HPO_UID),
        # A stopping server answers the long-poll claims it holds first (up to
        # HPO_CLAIM_MAX_WAIT_SECONDS, 30 s): Kubernetes' default 30 s grace is too tight.
        "terminationGracePeriodSeconds": 60,
        "initContainers": [migrate],
        "containers": [serve],
        # Replicas on different nodes where the cluster can: one node's loss is one replica's.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": labels("api")},
            }
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(API_NAME, plan.namespace, "api"),
        "spec": {
            "replicas": plan.api_replicas,
            "selector": {"matchLabels": labels("api")},
            "template": {"metadata": {"labels": labels("api")}, "spec": pod},
        },
    }


def _api_service(namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(API_NAME, namespace, "api"),
        "spec": {
            "selector": labels("api"),
            "ports": [{"name": "http", "port": API_PORT, "targetPort": "http"}],
        },
    }


def _api_disruption_budget(namespace: str) -> Manifest:
    # A node drain takes the replicas one at a time: the API stays up through it.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(API_NAME, namespace, "api"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels("api")}},
    }


def worker_args(plan: KubernetesPlan, pool: str) -> list[str]:
    """`hpo worker`'s arguments in a worker pod (the API URL and token come by env)."""
    args = ["--pool", pool]
    args += ["--gpus", "all"] if plan.gpus_per_worker else ["--device", "cpu"]
    if plan.job:
        args.append("--exit-when-idle")
    return args


def _worker_pod(plan: KubernetesPlan, pool: str, restart: str) -> Manifest:
    resources: Manifest = {"requests": {"cpu": "1", "memory": "4Gi"}}
    if plan.gpus_per_worker:
        # GPUs are an extended resource: the limit is the request.
        resources["limits"] = {GPU_RESOURCE: plan.gpus_per_worker}
    container: Manifest = {
        "name": "worker",
        "image": plan.image,
        "command": ["hpo", "worker"],
        "args": worker_args(plan, pool),
        "env": [
            value_env("HPO_API_URL", f"http://{API_NAME}:{API_PORT}"),
            secret_env("HPO_WORKER_TOKEN", _tokens(plan), WORKER_KEY),
            value_env("HPO_CACHE_DIR", "/cache"),
        ],
        "resources": resources,
        "securityContext": container_security(),
        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
    }
    pod: Manifest = {
        "securityContext": pod_security(HPO_UID),
        "restartPolicy": restart,
        # On SIGTERM a worker finishes its epoch and hands the trial back (requeued at once);
        # SIGKILL at the end of the grace would cost the trial a lease instead.
        "terminationGracePeriodSeconds": plan.grace_seconds,
        "containers": [container],
        "volumes": [{"name": "cache", "emptyDir": {}}],  # generated datasets
    }
    if plan.gpus_per_worker:
        # GPU node pools are commonly tainted so that only pods asking for GPUs land there.
        pod["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    return pod


def _worker_deployment(plan: KubernetesPlan, pool: str) -> Manifest:
    spec: Manifest = {
        "selector": {"matchLabels": labels("worker", pool)},
        "template": {
            "metadata": {"labels": labels("worker", pool)},
            "spec": _worker_pod(plan, pool, "Always"),
        },
    }
    if plan.autoscale_max is None:
        # Left out when KEDA owns the count: a re-apply must not reset what it chose.
        spec = {"replicas": plan.fixed_workers, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(worker_name(pool), plan.namespace, "worker", pool),
        "spec": spec,
    }


def _worker_job(plan: KubernetesPlan, pool: str) -> Manifest:
    n = plan.fixed_workers
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(worker_name(pool), plan.namespace, "worker", pool),
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": n,
            # A failed pod (a node lost) is retried; a worker that found no work exits 0 and
            # its index is done.
            "backoffLimit": n,
            "template": {
                "metadata": {"labels": labels("worker", pool)},
                "spec": _worker_pod(plan, pool, "Never"),
            },
        },
    }
