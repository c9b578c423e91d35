"""Studies for the web UI's browser tests and bench/ui_load.py.

Small studies are filled through the real HTTP API, as a worker would: claim, report an
intermediate value per step (the median pruner stops some trials), complete. The 10 000-trial
study is written straight into the server's SQLite file: the UI's read path is what is under
test there, and 10 000 HTTP round trips would cost minutes.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, select, update

from hpo.storage import Report, Study, StudyState, Trial, TrialState
from hpo.storage.repositories import params_hash

SPACE: dict[str, Any] = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256, "log": True},
    "depth": {"type": "int", "low": 1, "high": 4},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


def study_spec(name: str, n_trials: int, *, sampler: str = "random") -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 6, "metric": "val_accuracy"},
        "space": SPACE,
        "fixed": {"batch_size": 64, "optimizer": "adam"},
        "sampler": sampler,
        "pruner": {"name": "median", "options": {"n_startup_trials": 5, "n_warmup_steps": 3}},
        "budget": {"n_trials": n_trials, "max_parallel": 4, "max_attempts": 2},
        "seed": 0,
    }


def accuracy(params: dict[str, Any]) -> float:
    """A made-up validation accuracy: best near lr=3e-3, wider and shallower nets a bit
    better, gelu a bit better; deterministic in the params."""
    lr_term = (math.log10(float(params["lr"])) + 2.5) ** 2
    score = 0.95 - 0.08 * lr_term - 0.02 * (int(params["depth"]) - 1)
    score += 0.01 * math.log2(int(params["width"]) / 16) / 4
    score += 0.01 if params["activation"] == "gelu" else 0.0
    score -= 0.05 * float(params["dropout"]) ** 2
    return round(max(0.1, min(0.99, score)), 6)


def curve(final: float, step: int, steps: int) -> float:
    """The intermediate accuracy at `step` of a run that ends at `final`."""
    return round(final * (1 - 0.6 * math.exp(-3 * step / steps)), 6)


def create_study(client: httpx.Client, spec: dict[str, Any]) -> int:
    response = client.post("/api/v1/studies", json=spec)
    response.raise_for_status()
    return int(response.json()["id"])


def claim(client: httpx.Client, worker: str) -> dict[str, Any] | None:
    response = client.post("/api/v1/workers/claim", json={"worker_id": worker, "host": "test"})
    response.raise_for_status()
    return None if response.status_code == 204 else dict(response.json())


def run_trial(client: httpx.Client, lease: dict[str, Any], steps: int = 6) -> tuple[str, float]:
    """Report every step of one claimed trial, then complete it, unless the pruner stops it
    first. Returns (state, value)."""
    trial_id, token = lease["trial_id"], lease["lease_token"]
    final = accuracy(lease["params"])
    value = final
    for step in range(1, steps + 1):
        value = curve(final, step, steps)
        answer = client.post(
            f"/api/v1/trials/{trial_id}/reports",
            json={"lease_token": token, "step": step, "value": value},
        )
        answer.raise_for_status()
        if answer.json()["should_prune"]:
            return "pruned", value
    client.post(
        f"/api/v1/trials/{trial_id}/complete", json={"lease_token": token, "value": final}
    ).raise_for_status()
    return "completed", final


def run_workers(client: httpx.Client, n_trials: int, workers: tuple[str, ...]) -> int:
    """Claim and run up to `n_trials` trials, the workers taking turns (so the timeline has
    several lanes); returns how many ran."""
    ran = 0
    while ran < n_trials:
        leases = [lease for w in workers if (lease := claim(client, w)) is not None]
        if not leases:
            break
        for lease in leases[: n_trials - ran]:
            run_trial(client, lease)
            ran += 1
    return ran


def insert_synthetic_trials(
    database_url: str, study_id: int, n: int, *, steps: int = 10, workers: int = 8, seed: int = 0
) -> None:
    """Write `n` finished trials (80% completed, 15% pruned, 5% failed) with `steps` reports
    each (fewer when pruned) into a study, straight into the database, and mark the study
    completed."""
    rng = random.Random(seed)
    engine = create_engine(database_url)
    start = datetime.now(UTC) - timedelta(seconds=30 * n / workers)
    trials, finals = [], []
    for number in range(n):
        params = {
            "lr": 10 ** rng.uniform(-4, -1),
            "width": round(2 ** rng.uniform(4, 8)),
            "depth": rng.randint(1, 4),
            "activation": rng.choice(["relu", "tanh", "gelu"]),
            "dropout": rng.uniform(0, 0.5),
        }
        final = accuracy(params)
        roll = rng.random()
        state = (
            TrialState.COMPLETED
            if roll < 0.8
            else TrialState.PRUNED
            if roll < 0.95
            else TrialState.FAILED
        )
        began = start + timedelta(seconds=30 * (number // workers) + rng.uniform(0, 3))
        ended = began + timedelta(seconds=rng.uniform(10, 28))
        last_step = steps if state is TrialState.COMPLETED else rng.randint(1, steps - 1)
        value = final if state is TrialState.COMPLETED else None
        if state is TrialState.PRUNED:
            value = curve(final, last_step, steps)
        trials.append(
            {
                "study_id": study_id,
                "number": number,
                "params": params,
                "params_hash": params_hash(params),
                "state": state,
                "value": value,
                "metrics": {},
                "attempt": 1,
                "worker_id": f"worker-{number % workers}",
                "device": "cpu",
                "created_at": began,
                "started_at": began,
                "finished_at": ended,
                "failure_class": "user" if state is TrialState.FAILED else None,
                "failure_message": "synthetic failure" if state is TrialState.FAILED else None,
                "last_step": last_step,
                "last_report_value": curve(final, last_step, steps),
            }
        )
        finals.append((final, last_step, ended))
    with engine.begin() as connection:
        connection.execute(insert(Trial.__table__), trials)  # type: ignore[arg-type]
        ids = dict(
            connection.execute(
                select(Trial.number, Trial.id).where(Trial.study_id == study_id)
            ).all()
        )
        reports = [
            {
                "trial_id": ids[number],
                "study_id": study_id,
                "step": step,
                "value": curve(final, step, steps),
                "created_at": ended,
            }
            for number, (final, last_step, ended) in enumerate(finals)
            for step in range(1, last_step + 1)
        ]
        connection.execute(insert(Report.__table__), reports)  # type: ignore[arg-type]
        connection.execute(
            update(Study).where(Study.id == study_id).values(state=StudyState.COMPLETED)
        )
    engine.dispose()


def comparison_spec(name: str, samplers: list[str], n_trials: int, repeats: int) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 6, "metric": "val_accuracy"},
        "space": SPACE,
        "fixed": {"batch_size": 64, "optimizer": "adam"},
        "samplers": samplers,
        "n_trials": n_trials,
        "repeats": repeats,
        "seed": 0,
        "max_parallel": 2,
    }


def create_comparison(client: httpx.Client, spec: dict[str, Any]) -> int:
    response = client.post("/api/v1/comparisons", json=spec)
    response.raise_for_status()
    return int(response.json()["id"])
