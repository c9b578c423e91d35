"""PostgreSQL for `hpo deploy kubernetes`: the Secret holding the database URL (an external
server's, or the StatefulSet's below), and, with --postgres-statefulset, one PostgreSQL pod
on a PersistentVolumeClaim behind a headless Service, ready when `pg_isready` says so."""

from __future__ import annotations

from hpo.deploy._k8s_parts import (
    POSTGRES_UID,
    Manifest,
    container_security,
    labels,
    metadata,
    pod_security,
    secret_env,
    value_env,
)

DATABASE_SECRET = "hpo-database"
POSTGRES_NAME = "hpo-postgres"
POSTGRES_IMAGE = "postgres:16"
_USER = "hpo"
_DB = "hpo"


def statefulset_url(password: str) -> str:
    # The password is hex (secrets.token_hex): nothing in it needs URL quoting.
    return f"postgresql://{_USER}:{password}@{POSTGRES_NAME}:5432/{_DB}"


def database_secret(namespace: str, url: str, password: str | None) -> Manifest:
    """The database URL (it may hold a password, so never a plain env value) and, for the
    StatefulSet, the password PostgreSQL is initialised with."""
    data = {"url": url}
    if password is not None:
        data["password"] = password
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(DATABASE_SECRET, namespace, "database"),
        "type": "Opaque",
        "stringData": data,
    }


def postgres_service(namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(POSTGRES_NAME, namespace, "postgres"),
        "spec": {
            "clusterIP": "None",  # headless: the StatefulSet's pod, by name
            "selector": labels("postgres"),
            "ports": [{"name": "postgres", "port": 5432, "targetPort": "postgres"}],
        },
    }


def postgres_statefulset(namespace: str, storage: str) -> Manifest:
    ready = ["pg_isready", "-h", "127.0.0.1", "-U", _USER, "-d", _DB]
    container: Manifest = {
        "name": "postgres",
        "image": POSTGRES_IMAGE,
        "ports": [{"name": "postgres", "containerPort": 5432}],
        "env": [
            value_env("POSTGRES_USER", _USER),
            value_env("POSTGRES_DB", _DB),
            secret_env("POSTGRES_PASSWORD", DATABASE_SECRET, "password"),
            # A subfolder: a fresh volume's root holds lost+found, and initdb wants it empty.
            value_env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ],
        "readinessProbe": {"exec": {"command": ready}, "periodSeconds": 5, "timeoutSeconds": 3},
        "livenessProbe": {
            "exec": {"command": ready},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "securityContext": container_security(),
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(POSTGRES_NAME, namespace, "postgres"),
        "spec": {
            "serviceName": POSTGRES_NAME,
            "replicas": 1,
            "selector": {"matchLabels": labels("postgres")},
            "template": {
                "metadata": {"labels": labels("postgres")},
                "spec": {
                    "securityContext": pod_security(POSTGRES_UID),
                    "containers": [container],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        },
    }
