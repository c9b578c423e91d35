"""In-process counters and latency histograms, rendered in the Prometheus text format.

Ours rather than prometheus_client's: that library keeps a module-global registry, and we
keep no module globals with state (two apps in one test process must not share counters).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

# Seconds; the ask path is expected between a millisecond and a few seconds (GP).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_HELP = {
    "hpo_claims_total": "Claims that handed out a trial.",
    "hpo_claims_empty_total": "Claims answered with no work (204).",
    "hpo_trials_completed_total": "Trials completed by workers or tell.",
    "hpo_trials_pruned_total": "Trials stopped by the pruner.",
    "hpo_trials_failed_total": "Trials failed for good.",
    "hpo_trials_requeued_total": "Trial attempts requeued (lost worker or expired lease).",
    "hpo_lease_expiries_total": "Leases that expired and were reaped.",
    "hpo_sampler_failures_total": "Sampler asks that raised; each paused its study.",
    "hpo_ask_seconds": "Time to rebuild a sampler from history and ask it for one trial.",
    "hpo_http_requests_total": "HTTP requests served.",
}


class Metrics:
    """Thread-safe counters and histograms (the API serves requests from a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = defaultdict(float)
        self._histograms: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def inc(self, name: str, amount: float = 1.0) -> None:
        with self._lock:
            self._counters[name] += amount

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            buckets = self._histograms.setdefault(name, [0] * (len(_BUCKETS) + 1))
            buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
            self._sums[name] += seconds
            self._counts[name] += 1

    def counter(self, name: str) -> float:
        with self._lock:
            return self._counters.get(name, 0.0)

    def render(
        self, gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] | None = None
    ) -> str:
        """Prometheus text exposition. `gauges`: name -> {labels: value}, computed by the
        caller at scrape time (e.g. trials by state, read from the database)."""
        lines: list[str] = []
        with self._lock:
            for name in sorted(set(self._counters) | {n for n in _HELP if n.endswith("_total")}):
                lines += [f"# HELP {name} {_HELP.get(name, name)}", f"# TYPE {name} counter"]
                lines.append(f"{name} {self._counters.get(name, 0.0):g}")
            for name, buckets in sorted(self._histograms.items()):
                lines += [f"# HELP {name} {_HELP.get(name, name)}", f"# TYPE {name} histogram"]
                cumulative = 0
                for bound, count in zip(_BUCKETS, buckets, strict=False):
                    cumulative += count
                    lines.append(f'{name}_bucket{{le="{bound:g}"}} {cumulative}')
                lines.append(f'{name}_bucket{{le="+Inf"}} {cumulative + buckets[-1]}')
                lines.append(f"{name}_sum {self._sums[name]:g}")
                lines.append(f"{name}_count {self._counts[name]}")
        for name, series in sorted((gauges or {}).items()):
            lines.append(f"# TYPE {name} gauge")
            for labels, value in sorted(series.items()):
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value:g}")
        return "\n".join(lines) + "\n"
