"""Run hpo on the cluster a team already has: Kubernetes manifests (`kubernetes.py`) and a
Slurm batch script (`slurm.py`), printed by `hpo deploy`. Placement stays with the cluster's
scheduler; these only describe the processes (`hpo migrate`, `hpo serve`, `hpo worker`) and
the wiring between them, as `docker-compose.yml` does for one machine."""

from hpo.deploy.kubernetes import KubernetesPlan, kubernetes_manifests, render_manifests
from hpo.deploy.slurm import SlurmPlan, slurm_script

__all__ = [
    "KubernetesPlan",
    "SlurmPlan",
    "kubernetes_manifests",
    "render_manifests",
    "slurm_script",
]
