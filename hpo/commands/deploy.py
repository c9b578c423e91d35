"""`hpo deploy kubernetes` and `hpo deploy slurm`: print what runs hpo on a cluster (a YAML
stream of manifests, an sbatch script) on stdout, for `kubectl apply -f -` or `sbatch`.
A bad flag or combination is one line on stderr and exit code 2 (HpoError, via hpo.cli)."""

from __future__ import annotations

import click

# What only some commands need is imported inside them (fast start): hpo/commands/__init__.py.


@click.group()
def deploy() -> None:
    """Print Kubernetes manifests or a Slurm batch script that run hpo on a cluster."""


@deploy.command()
@click.option("--namespace", default="hpo", show_default=True)
@click.option(
    "--image",
    default="hpo:latest",
    show_default=True,
    help="The image docker-compose.yml builds, pushed where the cluster pulls from.",
)
@click.option(
    "--workers",
    type=int,
    help="Worker pods per pool (a Deployment's replicas, or the Job's parallelism) "
    "[default: 1; not with --autoscale-max].",
)
@click.option(
    "--gpus-per-worker",
    default=1,
    show_default=True,
    type=int,
    help="nvidia.com/gpu per worker pod (one trial slot each); 0: CPU workers.",
)
@click.option(
    "--pool",
    "pools",
    multiple=True,
    help="A worker pool: one worker Deployment (or Job) each; repeatable [default: default].",
)
@click.option("--database-url", help="An external PostgreSQL (postgresql://...).")
@click.option(
    "--postgres-statefulset",
    is_flag=True,
    help="Run PostgreSQL in the cluster: a StatefulSet on a PersistentVolumeClaim.",
)
@click.option("--postgres-storage", default="20Gi", show_default=True, help="Its volume's size.")
@click.option(
    "--autoscale-max",
    type=int,
    help="A KEDA ScaledObject per pool: 0 to N worker pods, on the claimable-slots gauge.",
)
@click.option(
    "--prometheus-url",
    help="The Prometheus KEDA asks (with --autoscale-max) "
    "[default: http://prometheus-operated.monitoring.svc:9090].",
)
@click.option("--api-replicas", default=2, show_default=True, type=int)
@click.option(
    "--token-secret",
    help="Use this existing Secret (keys admin-token, worker-token, optional read-token) "
    "instead of generating one.",
)
@click.option(
    "--job",
    is_flag=True,
    help="Workers as an Indexed Job of `hpo worker --exit-when-idle` instead of a Deployment.",
)
@click.option(
    "--grace-seconds",
    default=600,
    show_default=True,
    type=int,
    help="Worker pods' terminationGracePeriodSeconds: longer than your longest epoch, so a "
    "SIGTERM hands the trial back instead of losing it.",
)
def kubernetes(
    namespace: str,
    image: str,
    workers: int | None,
    gpus_per_worker: int,
    pools: tuple[str, ...],
    database_url: str | None,
    postgres_statefulset: bool,
    postgres_storage: str,
    autoscale_max: int | None,
    prometheus_url: str | None,
    api_replicas: int,
    token_secret: str | None,
    job: bool,
    grace_seconds: int,
) -> None:
    """Print the manifests (YAML stream) for `kubectl apply -f -`."""
    from hpo.deploy.kubernetes import KubernetesPlan, kubernetes_manifests, render_manifests
    from hpo.deploy.pools import DEFAULT_POOL

    plan = KubernetesPlan(
        namespace=namespace,
        image=image,
        workers=workers,
        gpus_per_worker=gpus_per_worker,
        pools=tuple(dict.fromkeys(pools)) or (DEFAULT_POOL,),
        database_url=database_url,
        postgres_statefulset=postgres_statefulset,
        postgres_storage=postgres_storage,
        autoscale_max=autoscale_max,
        prometheus_url=prometheus_url,
        api_replicas=api_replicas,
        token_secret=token_secret,
        job=job,
        grace_seconds=grace_seconds,
    )
    click.echo(render_manifests(plan, kubernetes_manifests(plan)), nl=False)


@deploy.command()
@click.option("--api", required=True, help="The API's URL as the compute nodes reach it.")
@click.option("--array", default="0-63%16", show_default=True, help="Slurm's --array.")
@click.option("--gpus-per-task", default=1, show_default=True, type=int, help="0: CPU workers.")
@click.option("--time", "time_limit", default="08:00:00", show_default=True)
@click.option("--pool", default="default", show_default=True)
@click.option(
    "--token-file",
    default="~/.config/hpo/worker-token",
    show_default=True,
    help="The file holding the worker token, as the compute nodes see it.",
)
@click.option(
    "--grace-seconds",
    default=120,
    show_default=True,
    type=int,
    help="How long before the time limit Slurm sends TERM (--signal=B:TERM@N): longer "
    "than an epoch.",
)
def slurm(
    api: str,
    array: str,
    gpus_per_task: int,
    time_limit: str,
    pool: str,
    token_file: str,
    grace_seconds: int,
) -> None:
    """Print an sbatch script: a job array of `hpo worker --exit-when-idle`."""
    from hpo.deploy.slurm import SlurmPlan, slurm_script

    plan = SlurmPlan(
        api=api,
        array=array,
        gpus_per_task=gpus_per_task,
        time=time_limit,
        pool=pool,
        token_file=token_file,
        grace_seconds=grace_seconds,
    )
    click.echo(slurm_script(plan), nl=False)
