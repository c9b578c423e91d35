"""The shape of a KEDA ScaledObject with a prometheus trigger, checked by hand.

KEDA's ScaledObject is a CustomResourceDefinition, so the Kubernetes API schemas that
kubernetes-validate ships do not know it. These are the fields KEDA's documentation
(keda.sh/docs/2.x: concepts/scaling-deployments, scalers/prometheus) requires or types:
`spec.scaleTargetRef.name` and `spec.triggers` required; the replica counts and intervals
integers; a prometheus trigger's `serverAddress`, `query` and `threshold` required, every
trigger metadata value a string (KEDA parses `threshold` itself).
"""

from __future__ import annotations

from typing import Any

_SPEC_INTEGERS = ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod")
_SPEC_FIELDS = {
    "scaleTargetRef",
    "triggers",
    "advanced",
    "fallback",
    "idleReplicaCount",
    *_SPEC_INTEGERS,
}
_TARGET_FIELDS = {"apiVersion", "kind", "name", "envSourceContainerName"}
_PROMETHEUS_REQUIRED = ("serverAddress", "query", "threshold")


def scaled_object_problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with `doc` as a ScaledObject (empty: nothing found)."""
    problems: list[str] = []
    if doc.get("apiVersion") != "keda.sh/v1alpha1" or doc.get("kind") != "ScaledObject":
        problems.append("apiVersion/kind must be keda.sh/v1alpha1 ScaledObject")
    if not isinstance(doc.get("metadata", {}).get("name"), str):
        problems.append("metadata.name is required")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return [*problems, "spec is required"]
    problems += [f"spec.{k} is not a ScaledObject field" for k in set(spec) - _SPEC_FIELDS]
    target = spec.get("scaleTargetRef")
    if not isinstance(target, dict) or not isinstance(target.get("name"), str):
        problems.append("spec.scaleTargetRef.name is required")
    else:
        problems += [f"scaleTargetRef.{k} is unknown" for k in set(target) - _TARGET_FIELDS]
    for key in _SPEC_INTEGERS:
        if key in spec and (type(spec[key]) is not int or spec[key] < 0):
            problems.append(f"spec.{key} must be a non-negative integer")
    low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if isinstance(low, int) and isinstance(high, int) and low > high:
        problems.append("minReplicaCount is above maxReplicaCount")
    triggers = spec.get("triggers")
    if not isinstance(triggers, list) or not triggers:
        return [*problems, "spec.triggers must be a non-empty list"]
    for i, trigger in enumerate(triggers):
        problems += _trigger_problems(i, trigger)
    return problems


def _trigger_problems(i: int, trigger: Any) -> list[str]:
    if not isinstance(trigger, dict) or not isinstance(trigger.get("type"), str):
        return [f"triggers[{i}].type is required"]
    meta = trigger.get("metadata")
    if not isinstance(meta, dict):
        return [f"triggers[{i}].metadata is required"]
    problems = [
        f"triggers[{i}].metadata.{k} must be a string"
        for k, v in meta.items()
        if not isinstance(v, str)
    ]
    if trigger["type"] == "prometheus":
        problems += [
            f"triggers[{i}].metadata.{k} is required for prometheus"
            for k in _PROMETHEUS_REQUIRED
            if not meta.get(k)
        ]
        try:
            float(meta.get("threshold", ""))
        except ValueError:
            problems.append(f"triggers[{i}].metadata.threshold is not a number")
    return problems
