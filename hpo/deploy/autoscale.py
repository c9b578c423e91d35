"""The KEDA ScaledObject that scales one pool's worker Deployment between 0 and N pods.

KEDA asks Prometheus, which scrapes the API's /metrics (with the read token), for how many
trial slots the pool could use, and runs ceil(slots / slots per pod) pods. The slots a pool
can use are the ones it could claim now (`hpo_claimable_slots{pool=...}`: the room left in
its running studies, capped by max_parallel) PLUS the trials already running. Claimable
slots alone count no running trial, so once every slot is busy the target would fall to zero
and the scale-down would kill workers mid-trial (each hands its trial back, which makes a slot
claimable again, which scales up again: a loop that retrains every trial). The running count
is `hpo_trials{state="running"}`, which has no pool label: in a cluster with several pools it
keeps a pool's idle pods a little longer than needed, never too short.

`max(...)`, not `sum(...)`: every API replica reads the same figures from the same database,
so Prometheus holds one copy per replica.
"""

from __future__ import annotations

from hpo.deploy._k8s_parts import Manifest, metadata

DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"
CLAIMABLE_GAUGE = "hpo_claimable_slots"


def slots_query(pool: str) -> str:
    """PromQL for the trial slots `pool` can use now (one value; 0 when idle)."""
    claimable = f'max({CLAIMABLE_GAUGE}{{pool="{pool}"}})'
    # `or vector(0)`: no running trial may mean no series at all, and `x + nothing` is empty.
    running = '(max(hpo_trials{state="running"}) or vector(0))'
    return f"{claimable} + {running}"


def scaled_object(
    *,
    deployment: str,
    namespace: str,
    pool: str,
    max_replicas: int,
    slots_per_pod: int,
    prometheus_url: str,
) -> Manifest:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(deployment, namespace, "worker-autoscaler", pool),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicaCount": 0,
            "maxReplicaCount": max_replicas,
            "pollingInterval": 15,
            # Down to zero only after five idle minutes: a study created just after another
            # finished finds its workers still there.
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "prometheus",
                    "metadata": {
                        "serverAddress": prometheus_url,
                        "query": slots_query(pool),
                        # KEDA reads these as strings: one pod per `slots_per_pod` slots.
                        "threshold": str(slots_per_pod),
                        "activationThreshold": "0",
                    },
                }
            ],
        },
    }
