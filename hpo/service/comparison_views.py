"""What the comparison service returns (and the API serializes): frozen values, like
`hpo.service.views` for studies. Field names are the contract with the web UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hpo.service.curves import Band


@dataclass(frozen=True)
class ComparisonSummary:
    """One row of the comparison list."""

    id: int
    name: str
    state: str
    samplers: list[str]
    n_trials: int
    repeats: int
    created_at: datetime
    n_finished: int
    n_total: int


@dataclass(frozen=True)
class ComparisonStudy:
    """One study of a comparison (a sampler and a seed) and how far it got."""

    id: int
    sampler: str
    seed: int
    state: str
    n_finished: int
    best_value: float | None


@dataclass(frozen=True)
class SamplerCurves:
    by_trial: Band
    by_time: Band  # x: training seconds spent (the sum of finished trials' durations)


@dataclass(frozen=True)
class SamplerResult:
    """A sampler's final best values over seeds, its rank, and (after `hpo compare --final`)
    the test metric of its winner retrained on train + validation."""

    sampler: str
    rank: int
    median_best: float | None
    q25_best: float | None
    q75_best: float | None
    best_values: list[float | None]
    n_finished: int
    test_metric: float | None = None
    test_metric_sd: float | None = None
    # Where the test metric came from: {metric, seeds, study_id, trial_id, recorded_at...}.
    final: dict[str, Any] | None = None


@dataclass(frozen=True)
class ComparisonView:
    id: int
    name: str
    state: str
    created_at: datetime
    direction: str
    objective: str
    task: dict[str, Any]
    n_trials: int
    repeats: int
    samplers: list[str]
    studies: list[ComparisonStudy]
    curves: dict[str, SamplerCurves]
    results: list[SamplerResult]
    n_finished: int = 0
    n_total: int = 0
    spec: dict[str, Any] = field(default_factory=dict)
    # hpo.service.separability: the leader and the samplers it cannot be told from at this
    # many seeds, and the sentence that says so ("tpe, lipo: within noise at 3 seeds").
    within_noise: list[str] = field(default_factory=list)
    verdict: str | None = None
