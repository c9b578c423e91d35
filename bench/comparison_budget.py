"""What a comparison's budget costs a reader: GET /api/v1/comparisons/{id} against n_trials.

Before (issue 11, defect 7) the by-trial curve had one point per budgeted trial, so a
comparison with n_trials 1 000 000 cost seconds of CPU per read, with 30 trials finished.
After, a curve has at most MAX_POINTS points (the finished range, then the budget's end).

"before" is measured in the same run by evaluating the old axis (every trial number up to
n_trials) on the same histories; "after" is the real GET over HTTP (in-process app, SQLite).

    .venv/bin/python bench/comparison_budget.py            # prints a table and JSON
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from hpo.bench.harness import machine_meta
from hpo.service import curves
from hpo.settings import Settings

BUDGETS = (1_000, 100_000, 1_000_000)
FINISHED_PER_STUDY = 10
READS = 5


def _comparison(n_trials: int) -> dict[str, Any]:
    return {
        "name": f"budget-{n_trials}",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "samplers": ["random"],
        "n_trials": n_trials,
        "repeats": 3,
    }


def _old_by_trial_seconds(view: dict[str, Any], n_trials: int) -> float:
    """The pre-fix axis, every trial number to n_trials, on the same best-so-far values."""
    histories = [
        curves.SeedHistory(tuple([0.5] * FINISHED_PER_STUDY), (), done=False)
        for _ in view["studies"]
    ]
    started = time.perf_counter()
    x = list(range(1, n_trials + 1))
    curves._band(x, [[h.at_trial(k) for h in histories] for k in x])
    return time.perf_counter() - started


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            max_trials_per_study=max(BUDGETS),
        )
        with TestClient(create_app(settings)) as client:
            for n_trials in BUDGETS:
                created = client.post("/api/v1/comparisons", json=_comparison(n_trials)).json()
                for study in created["studies"]:
                    for i in range(FINISHED_PER_STUDY):
                        lease = client.post(f"/api/v1/studies/{study['id']}/ask").json()
                        tell = {"lease_token": lease["lease_token"], "value": i / 10}
                        client.post(f"/api/v1/trials/{lease['trial_id']}/tell", json=tell)
                url = f"/api/v1/comparisons/{created['id']}"
                seconds, size, points = [], 0, 0
                for _ in range(READS):
                    started = time.perf_counter()
                    response = client.get(url)
                    seconds.append(time.perf_counter() - started)
                    size = len(response.content)
                    points = len(response.json()["curves"]["random"]["by_trial"]["x"])
                before = _old_by_trial_seconds(created, n_trials)
                rows.append(
                    {
                        "n_trials": n_trials,
                        "after_get_ms": round(statistics.median(seconds) * 1000, 2),
                        "after_points": points,
                        "after_bytes": size,
                        "before_curve_only_ms": round(before * 1000, 2),
                        "before_points": n_trials,
                    }
                )
    print(
        f"{'n_trials':>10} {'before curve ms':>16} {'before pts':>11} {'after GET ms':>13} "
        f"{'after pts':>10} {'after bytes':>12}"
    )
    for r in rows:
        print(
            f"{r['n_trials']:>10} {r['before_curve_only_ms']:>16} {r['before_points']:>11} "
            f"{r['after_get_ms']:>13} {r['after_points']:>10} {r['after_bytes']:>12}"
        )
    print(json.dumps({"machine": machine_meta(), "rows": rows}, default=str))


if __name__ == "__main__":
    main()
