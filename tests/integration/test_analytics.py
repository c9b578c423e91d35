"""The web UI's aggregations (hpo.service.analytics) on real databases, SQLite and PostgreSQL:
history with best so far, the capped params sample, the worker timeline, downsampled curves
with pruned trials, and importance with its cache."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hpo.errors import NotFoundError
from hpo.service import Service
from hpo.service.analytics import StudyAnalytics, spread
from hpo.spec import parse_study_spec
from hpo.storage import Database

pytestmark = pytest.mark.integration

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _study(service: Service, n_trials: int, pruner: dict[str, Any] | None = None) -> int:
    spec = parse_study_spec(
        {
            "name": "analytics",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 3, "metric": "val_loss"},
            "space": SPACE,
            "sampler": "random",
            "pruner": pruner or {"name": "none"},
            "budget": {"n_trials": n_trials, "max_parallel": 2, "max_attempts": 1},
        }
    )
    return service.studies.create(spec).id


def _run(service: Service, worker: str, value: float, steps: int = 0) -> tuple[int, bool]:
    """Claim one trial, report `steps` values (value + 1/step), complete it unless pruned."""
    lease = service.dispatch.claim(worker)
    assert lease is not None
    for step in range(1, steps + 1):
        if service.dispatch.report(lease.trial_id, lease.lease_token, step, value + 1 / step):
            return lease.number, True
    service.dispatch.complete(lease.trial_id, lease.lease_token, value)
    return lease.number, False


def test_history_sample_and_timeline(db: Database) -> None:
    service = Service(db, prepare_suggestions=False, clock=Clock())
    study = _study(service, 6)
    values = [0.5, 0.7, 0.3, 0.4]  # minimized (val_loss): best so far 0.5, 0.5, 0.3, 0.3
    for i, value in enumerate(values):
        _run(service, f"w{i % 2}", value)
    failed = service.dispatch.claim("w0")
    assert failed is not None
    service.dispatch.fail(failed.trial_id, failed.lease_token, "user", "boom")
    running = service.dispatch.claim("w1")
    assert running is not None

    plots = StudyAnalytics(db).plots(study)
    assert plots.direction == "minimize" and plots.metric == "val_loss"
    assert [a.name for a in plots.params] == ["activation", "lr", "width"]
    lr = next(a for a in plots.params if a.name == "lr")
    assert (lr.type, lr.log, lr.low, lr.high) == ("float", True, 1e-4, 1e-1)
    activation = next(a for a in plots.params if a.name == "activation")
    assert activation.choices == ["relu", "tanh", "gelu"]

    h = plots.history
    assert h.number == [0, 1, 2, 3, 4]  # the running trial is not finished
    assert [plots.states[s] for s in h.state] == ["completed"] * 4 + ["failed"]
    assert h.value == [*values, None]
    assert h.best == [0.5, 0.5, 0.3, 0.3, 0.3]

    assert plots.sample.number == [0, 1, 2, 3] and plots.sample.value == values
    assert plots.sample.n_total == 4
    assert set(plots.sample.params) == set(SPACE)
    assert all(len(column) == 4 for column in plots.sample.params.values())

    t = plots.timeline
    assert t.number == [0, 1, 2, 3, 4, 5] and t.n_total == 6
    assert [t.workers[w] for w in t.worker] == ["w0", "w1", "w0", "w1", "w0", "w1"]
    assert t.end[-1] is None  # still running
    finished = zip(t.start[:-1], t.end[:-1], strict=True)
    assert all(end is not None and end > start for start, end in finished)


def test_sample_is_capped_to_the_best_and_a_spread(db: Database) -> None:
    service = Service(db, prepare_suggestions=False, clock=Clock())
    study = _study(service, 12)
    for i in range(12):
        _run(service, "w", float(i))  # minimized: trial i has value i, so the best are 0, 1
    plots = StudyAnalytics(db, max_sample=8, max_timeline=5).plots(study)
    # The best quarter of the cap (2 trials), then 6 spread evenly over the other 10.
    assert plots.sample.number == [0, 1, 2, 4, 6, 7, 9, 11]
    assert plots.sample.n_total == 12
    assert plots.timeline.number == [7, 8, 9, 10, 11] and plots.timeline.n_total == 12


def test_curves_downsampled_with_pruned_trials(db: Database) -> None:
    service = Service(db, prepare_suggestions=False, clock=Clock())
    pruner = {"name": "median", "options": {"n_startup_trials": 2, "n_warmup_steps": 0}}
    study = _study(service, 5, pruner)
    outcomes = [_run(service, "w", value, steps=30) for value in (0.3, 0.2, 0.1, 5.0)]
    assert [pruned for _, pruned in outcomes] == [False, False, False, True]

    view = StudyAnalytics(db).curves(study, best=2, latest=2, max_points=10)
    assert view.n_total == 4
    # The two best completed trials (2 and 1) and the two latest (3, pruned, and 2).
    assert [(c.number, c.state) for c in view.curves] == [
        (1, "completed"),
        (2, "completed"),
        (3, "pruned"),
    ]
    best = view.curves[1]
    assert len(best.step) == 10 and best.step[0] == 1 and best.step[-1] == 30
    assert best.value[-1] == pytest.approx(0.1 + 1 / 30)
    assert view.curves[2].step[-1] < 30  # stopped early


def test_importance_is_computed_then_cached_until_more_complete(db: Database) -> None:
    service = Service(db, prepare_suggestions=False, clock=Clock())
    study = _study(service, 40)
    analytics = StudyAnalytics(db)
    assert analytics.importance(study).importances == []
    assert "at least 10" in (analytics.importance(study).note or "")
    for _ in range(30):
        lease = service.dispatch.claim("w")
        assert lease is not None
        # Only lr matters: the loss is its distance (in decades) from 1e-2.
        loss = abs(math.log10(lease.params["lr"]) + 2)
        service.dispatch.complete(lease.trial_id, lease.lease_token, loss)
    first = analytics.importance(study)
    assert first.n_completed == first.n_used == 30
    assert first.importances[0].param == "lr"
    assert {i.param for i in first.importances} == set(SPACE)
    assert analytics.importance(study) is first  # cached: nothing new completed
    _run(service, "w", 9.0)
    assert analytics.importance(study) is not first


def test_categorical_choices_and_values_share_labels(db: Database) -> None:
    """Numbers and booleans as JSON writes them, so the page matches values to axis labels."""
    service = Service(db, prepare_suggestions=False, clock=Clock())
    spec = parse_study_spec(
        {
            "name": "labels",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 3},
            "space": {
                "batch_size": {"type": "categorical", "choices": [32, 64]},
                "bias": {"type": "categorical", "choices": [True, False]},
                "lr": {"type": "float", "low": 1e-3, "high": 1e-1},
            },
            "sampler": "random",
            "budget": {"n_trials": 4, "max_parallel": 1, "max_attempts": 1},
            "check_config": False,  # its params are not the trainers' (no trainer runs them)
        }
    )
    study = service.studies.create(spec).id
    for value in (0.1, 0.2, 0.3, 0.4):
        _run(service, "w", value)
    plots = StudyAnalytics(db).plots(study)
    choices = {a.name: a.choices for a in plots.params}
    assert choices == {"batch_size": ["32", "64"], "bias": ["true", "false"], "lr": None}
    assert set(plots.sample.params["batch_size"]) <= {"32", "64"}
    assert set(plots.sample.params["bias"]) <= {"true", "false"}
    assert all(isinstance(v, float) for v in plots.sample.params["lr"])


def test_unknown_study_is_not_found(db: Database) -> None:
    analytics = StudyAnalytics(db)
    for call in (analytics.plots, analytics.curves, analytics.importance):
        with pytest.raises(NotFoundError):
            call(987654)


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [(5, 10, [0, 1, 2, 3, 4]), (10, 4, [0, 3, 6, 9]), (10, 1, [9]), (10, 0, []), (0, 3, [])],
)
def test_spread(n: int, k: int, expected: list[int]) -> None:
    assert spread(n, k) == expected
