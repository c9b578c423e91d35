"""Ask/tell latency of the samplers as the service uses them.

The service rebuilds a sampler from the study's history for every ask (shared/DESIGN.md), so
the figure that matters is "fresh": build the sampler, `tell` it the whole history, `ask(1)`.
`hpo.optimize` keeps one sampler and tells it a history one trial longer each time, which
samplers may exploit by caching ("incremental"). Both are measured, on 6-dimensional
histories of random points valued by Hartmann6 (the history's content barely matters for the
cost; its length does).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.bench.functions import get_problem
from hpo.bench.runners import dlib_available
from hpo.samplers import Observation, default_registry
from hpo.space import SearchSpace


@dataclass(frozen=True)
class LatencyCase:
    """One line of the plan: `label` names the row, `sampler`/`options` build the sampler."""

    label: str
    sampler: str
    counts: tuple[int, ...]
    reps: int
    options: Mapping[str, Any] | None = None


# LIPO's target is at 1000 observations. The gp sampler hands over to TPE past its
# `max_observations` cap, so "gp-nocap" lifts the cap to show what the cap avoids; GP at
# 1000 takes seconds per ask, so it gets few repetitions.
DEFAULT_PLAN: tuple[LatencyCase, ...] = (
    LatencyCase("lipo", "lipo", (100, 500, 1000), 21),
    LatencyCase("tpe", "tpe", (100, 500, 1000), 7),
    LatencyCase("gp", "gp", (100, 500, 1000), 2),
    LatencyCase("gp-nocap", "gp", (500, 1000), 1, {"max_observations": 10**9}),
)


@dataclass(frozen=True)
class LatencyRow:
    sampler: str
    n_obs: int
    dim: int
    mode: str  # "fresh" (rebuilt + told the whole history) or "incremental" (one more trial)
    tell_ms: float  # median, wall clock
    ask_ms: float  # median, wall clock
    ask_p90_ms: float
    reps: int
    # Medians in CPU time (process_time: all of the process's threads), which a shared,
    # loaded machine inflates much less than wall time.
    tell_cpu_ms: float
    ask_cpu_ms: float

    def describe(self) -> str:
        return (
            f"{self.sampler:>6} n={self.n_obs:<5} {self.mode:<11} tell {self.tell_ms:9.2f} ms "
            f"(CPU {self.tell_cpu_ms:.2f})  ask p50 {self.ask_ms:9.2f} ms "
            f"(CPU {self.ask_cpu_ms:.2f})  p90 {self.ask_p90_ms:9.2f} ms  ({self.reps} reps)"
        )


def _history(n: int, seed: int = 0) -> tuple[SearchSpace, list[Observation]]:
    problem = get_problem("hartmann6")
    space = SearchSpace.from_dict(problem.space)
    rng = np.random.default_rng(seed)
    params = space.sample(rng, n)
    return space, [Observation(p, problem.fn(p)) for p in params]


def _ms(seconds: float) -> float:
    return seconds * 1e3


@dataclass
class _Times:
    """Wall and CPU seconds of one kind of call, one entry per repetition."""

    wall: list[float]
    cpu: list[float]

    @classmethod
    def empty(cls) -> _Times:
        return cls([], [])

    def add(self, start: tuple[float, float], stop: tuple[float, float]) -> None:
        self.wall.append(stop[0] - start[0])
        self.cpu.append(stop[1] - start[1])


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _p90(xs: Sequence[float]) -> float:
    return float(np.percentile(xs, 90))


def measure(case: LatencyCase, n_obs: int) -> list[LatencyRow]:
    """Fresh and incremental tell/ask timings of `case`'s sampler at `n_obs` observations."""
    registry = default_registry()
    space, history = _history(n_obs)
    dim = len(space)
    fresh_tell, fresh_ask = _Times.empty(), _Times.empty()
    inc_tell, inc_ask = _Times.empty(), _Times.empty()
    # Rep r uses the first n_obs - r observations, so the reps mix whatever kinds of step a
    # sampler alternates between (LIPO: bound maximization / trust region) instead of timing
    # one kind of step 21 times.
    for rep in range(case.reps):
        hist = history[: max(n_obs - rep, 2)]
        t0 = _now()
        s = registry.create(case.sampler, space, seed=rep, options=case.options)
        s.tell(hist, [])
        t1 = _now()
        s.ask(1)
        t2 = _now()
        fresh_tell.add(t0, t1)
        fresh_ask.add(t1, t2)

        s = registry.create(case.sampler, space, seed=rep, options=case.options)
        s.tell(hist[:-1], [])
        s.ask(1)  # as hpo.optimize does: the previous ask warmed any cache
        t0 = _now()
        s.tell(hist, [])
        t1 = _now()
        s.ask(1)
        t2 = _now()
        inc_tell.add(t0, t1)
        inc_ask.add(t1, t2)
    return [
        LatencyRow(
            case.label,
            n_obs,
            dim,
            mode,
            _ms(statistics.median(tell.wall)),
            _ms(statistics.median(ask.wall)),
            _ms(_p90(ask.wall)),
            case.reps,
            _ms(statistics.median(tell.cpu)),
            _ms(statistics.median(ask.cpu)),
        )
        for mode, tell, ask in (
            ("fresh", fresh_tell, fresh_ask),
            ("incremental", inc_tell, inc_ask),
        )
    ]


def measure_dlib(n_obs: int, reps: int) -> LatencyRow | None:
    """dlib's `get_next_x` + `set` after n_obs evaluations, for reference (None without dlib).
    dlib keeps its state in one object, so this is its incremental cost."""
    if not dlib_available():
        return None
    import dlib  # optional (the `bench` extra): imported only where it is used

    problem = get_problem("hartmann6")
    dim = problem.dim
    asks, tells = _Times.empty(), _Times.empty()
    for rep in range(reps):
        gfs = dlib.global_function_search([dlib.function_spec([0.0] * dim, [1.0] * dim)])
        gfs.set_seed(rep)
        for i in range(n_obs + 1):
            t0 = _now()
            request = gfs.get_next_x()
            t1 = _now()
            x = list(request.x)
            value = -problem.fn({f"x{k}": v for k, v in enumerate(x)})
            t2 = _now()
            request.set(value)
            t3 = _now()
            if i == n_obs:
                asks.add(t0, t1)
                tells.add(t2, t3)
    return LatencyRow(
        "dlib",
        n_obs,
        dim,
        "incremental",
        _ms(statistics.median(tells.wall)),
        _ms(statistics.median(asks.wall)),
        _ms(_p90(asks.wall)),
        reps,
        _ms(statistics.median(tells.cpu)),
        _ms(statistics.median(asks.cpu)),
    )


def run_latency(
    plan: Sequence[LatencyCase] = DEFAULT_PLAN,
    *,
    dlib_reps: int = 3,
    on_row: Callable[[LatencyRow], None] | None = None,
) -> list[LatencyRow]:
    rows: list[LatencyRow] = []

    def add(row: LatencyRow) -> None:
        rows.append(row)
        if on_row is not None:
            on_row(row)

    for case in plan:
        for n in case.counts:
            for row in measure(case, n):
                add(row)
    if dlib_reps > 0:
        dlib_row = measure_dlib(1000, dlib_reps)
        if dlib_row is not None:
            add(dlib_row)
    return rows


def latency_table(rows: Sequence[LatencyRow]) -> str:
    lines = [
        "| sampler | observations | dim | mode | tell p50 (ms) | tell CPU p50 (ms) "
        "| ask p50 (ms) | ask CPU p50 (ms) | ask p90 (ms) | reps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.sampler} | {r.n_obs} | {r.dim} | {r.mode} | {r.tell_ms:.2f} "
        f"| {r.tell_cpu_ms:.2f} | {r.ask_ms:.2f} | {r.ask_cpu_ms:.2f} "
        f"| {r.ask_p90_ms:.2f} | {r.reps} |"
        for r in rows
    ]
    return "\n".join(lines)
