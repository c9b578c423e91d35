"""Best-so-far curves with spread over seeds, and the sampler ranking of a comparison.

Plain arithmetic on finished trials, no database: `hpo.service.comparisons` feeds it.

A seed's history is its finished trials in the order they finished (the budget a sampler has
spent: pruned and failed trials count as spent, only completed values can be the best). For
each sampler the curves give, at each x, the median and the quartiles over the seeds that
have data at x:

- by trial: x = 1..n, the best completed value among a seed's first x finished trials;
- by time: x = training seconds spent (the sum of the durations of the trials finished so
  far), on the union of every seed's x values, each seed's best-so-far held (a step) from one
  of its finishes to the next.

A seed whose study is still running has no data past its last finish; a finished study holds
its final best to the end of the axis.

A curve has at most `MAX_POINTS` points, whatever the budget: an axis longer than that keeps
every finish up to the furthest one seen (downsampled evenly when there are more, the last
one always kept) and then the budget's end. Reading a comparison therefore costs what its
finished trials cost, never what its n_trials promises. Quartiles interpolate linearly between order
statistics (numpy's default): over three seeds a <= b <= c, q25 = (a+b)/2, median = b,
q75 = (b+c)/2.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Points per curve (by trial, by time): enough for any chart, cheap to compute and send.
MAX_POINTS = 500


@dataclass(frozen=True)
class SeedHistory:
    """One study's finished trials in finishing order: the best completed value so far after
    each (None until one completed), the training seconds spent after each, and whether the
    study is over (its best-so-far is then final)."""

    best: tuple[float | None, ...]
    seconds: tuple[float, ...]
    done: bool

    @classmethod
    def of(
        cls,
        values: Sequence[float | None],
        durations: Sequence[float],
        *,
        maximize: bool,
        done: bool,
    ) -> SeedHistory:
        """`values[i]` is the i-th finished trial's value when it completed, else None."""
        best: list[float | None] = []
        current: float | None = None
        for value in values:
            if value is not None and (
                current is None or (value > current if maximize else value < current)
            ):
                current = value
            best.append(current)
        seconds = np.cumsum(np.asarray(durations, dtype=float)).tolist() if durations else []
        return cls(tuple(best), tuple(float(s) for s in seconds), done)

    @property
    def final_best(self) -> float | None:
        return self.best[-1] if self.best else None

    def at_trial(self, k: int) -> float | None:
        """Best-so-far after k finished trials (k >= 1), or None where there is no data."""
        if k <= len(self.best):
            return self.best[k - 1]
        return self.final_best if self.done else None

    def at_seconds(self, t: float) -> float | None:
        """Best-so-far after `t` training seconds, or None where there is no data."""
        if not self.seconds or (t > self.seconds[-1] and not self.done):
            return None
        i = bisect.bisect_right(self.seconds, t)
        return self.best[i - 1] if i > 0 else None


@dataclass(frozen=True)
class Band:
    """A curve with its spread: median and quartiles at each x (None where no seed has data)."""

    x: list[float]
    median: list[float | None]
    q25: list[float | None]
    q75: list[float | None]


@dataclass(frozen=True)
class Spread:
    median: float | None
    q25: float | None
    q75: float | None


def spread(values: Sequence[float | None]) -> Spread:
    """Median and quartiles of the values that are not None (all None when none are)."""
    present = [v for v in values if v is not None]
    if not present:
        return Spread(None, None, None)
    q25, median, q75 = np.percentile(np.asarray(present, dtype=float), [25, 50, 75])
    return Spread(float(median), float(q25), float(q75))


def _band(x: Sequence[float], columns: list[list[float | None]]) -> Band:
    spreads = [spread(column) for column in columns]
    return Band(
        x=list(x),
        median=[s.median for s in spreads],
        q25=[s.q25 for s in spreads],
        q75=[s.q75 for s in spreads],
    )


def downsample(xs: Sequence[float], max_points: int) -> list[float]:
    """At most `max_points` of the sorted `xs`, evenly spread, the first and last kept."""
    if len(xs) <= max_points:
        return list(xs)
    picks = np.unique(np.linspace(0, len(xs) - 1, max_points).round().astype(int))
    return [xs[i] for i in picks]


def trial_axis(n: int, n_data: int, max_points: int = MAX_POINTS) -> list[int]:
    """x values of a by-trial curve over a budget of `n` trials of which at most `n_data`
    have finished in any seed: every trial number while that fits in `max_points`, else the
    finished range downsampled, then `n` (where finished seeds hold their final best)."""
    if n <= max_points:
        return list(range(1, n + 1))
    data = min(n_data, n)
    xs = [int(x) for x in downsample(range(1, data + 1), max_points - 1)]
    return [*xs, n] if not xs or xs[-1] != n else xs


def by_trial(histories: Sequence[SeedHistory], n: int) -> Band:
    """The band against trial number, x = 1..n (at most MAX_POINTS of them: `trial_axis`)."""
    x = trial_axis(n, max((len(h.best) for h in histories), default=0))
    return _band(x, [[h.at_trial(k) for h in histories] for k in x])


def by_time(histories: Sequence[SeedHistory]) -> Band:
    """The band against training seconds, on the union of every seed's finishing times
    (downsampled to MAX_POINTS, the last kept)."""
    grid = downsample(sorted({t for h in histories for t in h.seconds}), MAX_POINTS)
    return _band(grid, [[h.at_seconds(t) for h in histories] for t in grid])


def rank(medians: Sequence[float | None], *, maximize: bool) -> list[int]:
    """Competition ranks (1, 1, 3...) of the medians in the study direction; a sampler with
    no value yet ranks after every sampler with one."""
    with_values = [m for m in medians if m is not None]

    def better_count(m: float | None) -> int:
        if m is None:
            return len(with_values)
        return sum(1 for o in with_values if (o > m if maximize else o < m))

    return [better_count(m) + 1 for m in medians]
