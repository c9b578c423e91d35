"""The small pieces every hpo Kubernetes object is built from: labels, metadata, security
contexts, environment from Secrets. One helper each, so the objects in `kubernetes.py` read
as what they run, not as boilerplate."""

from __future__ import annotations

from typing import Any

Manifest = dict[str, Any]

APP = "hpo"
POOL_LABEL = "hpo/pool"
API_PORT = 8000
# The image docker-compose.yml builds creates the user `hpo` with `useradd`, the first user
# of python:3.11-slim: uid 1000. A numeric uid lets the kubelet check runAsNonRoot.
HPO_UID = 1000
# The official postgres image's `postgres` user.
POSTGRES_UID = 999


def labels(component: str, pool: str | None = None) -> dict[str, str]:
    """The labels that select an object's pods; the same helper everywhere, so a Service's
    selector and its Deployment's pods cannot drift apart."""
    result = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}
    if pool is not None:
        result[POOL_LABEL] = pool
    return result


def metadata(name: str, namespace: str, component: str, pool: str | None = None) -> Manifest:
    return {"name": name, "namespace": namespace, "labels": labels(component, pool)}


def pod_security(uid: int) -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> Manifest:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def secret_env(name: str, secret: str, key: str, *, optional: bool = False) -> Manifest:
    ref: Manifest = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def value_env(name: str, value: str) -> Manifest:
    return {"name": name, "value": value}


def healthz_probe(*, period: int, failures: int, initial_delay: int = 0) -> Manifest:
    # /healthz touches the database: a replica that lost it leaves the Service (readiness)
    # and, if it stays lost, is restarted (liveness, with more patience).
    probe: Manifest = {
        "httpGet": {"path": "/healthz", "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }
    if initial_delay:
        probe["initialDelaySeconds"] = initial_delay
    return probe
