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
    "hpo_ask_seconds": (
        "Time a claim spent getting its new trials' configurations from the study's sampler "
        "(a prepared suggestion, or an ask), under the study's lock."
    ),
    "hpo_sampler_wait_seconds": (
        "Time a claim waited for the study's sampler while a background preparation used it."
    ),
    "hpo_claim_batch_seconds": "Time a batch of combined claims held its transaction.",
    "hpo_suggestion_prepare_seconds": "Wall time of a background preparation.",
    "hpo_suggestions_prepared_total": "Background asks ahead of claims (one may ready several).",
    "hpo_suggestions_prepared_used_total": "Claims served by a suggestion prepared ahead.",
    "hpo_suggestions_current_total": "Background preparations that found theirs still current.",
    "hpo_suggestions_skipped_no_room_total": (
        "Background preparations skipped: queued trials wait, the budget is handed out, or "
        "max_parallel trials run."
    ),
    "hpo_suggestion_prepare_cpu_seconds_total": (
        "CPU seconds of background preparation in this process (asks of samplers in a sampler "
        "process count in hpo_sampler_process_cpu_seconds)."
    ),
    "hpo_sampler_process_moves_total": "Busy studies' samplers moved to a sampler process.",
    "hpo_sampler_process_losses_total": (
        "Samplers rebuilt in process after their sampler process died or stopped answering."
    ),
    "hpo_http_requests_total": "HTTP requests served, by method, route template and status.",
    "hpo_tracking_runs_logged_total": "Finished trials logged to the tracking server (MLflow).",
    "hpo_tracking_errors_total": "Attempts to log a trial that the tracking server failed.",
}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Thread-safe counters and histograms (the API serves requests from a thread pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = defaultdict(float)
        self._labeled: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def inc(self, name: str, amount: float = 1.0) -> None:
        with self._lock:
            self._counters[name] += amount

    def inc_labeled(self, name: str, labels: Labels, amount: float = 1.0) -> None:
        """A counter with labels (keep their values few: route templates, not paths)."""
        with self._lock:
            self._labeled[name][labels] += amount

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            buckets = self._histograms.setdefault(name, [0] * (len(_BUCKETS) + 1))
            buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
            self._sums[name] += seconds
            self._counts[name] += 1

    def counter(self, name: str) -> float:
        """An unlabeled counter, or the sum of a labeled one's series."""
        with self._lock:
            series = self._labeled.get(name)
            return sum(series.values()) if series else self._counters.get(name, 0.0)

    def render(
        self, gauges: dict[str, dict[tuple[tuple[str, str], ...], float]] | None = None
    ) -> str:
        """Prometheus text exposition. `gauges`: name -> {labels: value}, computed by the
        caller at scrape time (e.g. trials by state, read from the database)."""
        lines: list[str] = []
        with self._lock:
            names = set(self._counters) | set(self._labeled)
            for name in sorted(names | {n for n in _HELP if n.endswith("_total")}):
                lines += [f"# HELP {name} {_HELP.get(name, name)}", f"# TYPE {name} counter"]
                series = self._labeled.get(name)
                if name in self._counters or not series:
                    lines.append(f"{name} {self._counters.get(name, 0.0):g}")
                for labels, value in sorted((series or {}).items()):
                    lines.append(f"{name}{{{_label_text(labels)}}} {value:g}")
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
                text = f"{{{_label_text(labels)}}}" if labels else ""
                lines.append(f"{name}{text} {value:g}")
        return "\n".join(lines) + "\n"


def _label_text(labels: Labels) -> str:
    # Prometheus label values escape backslash, quote and newline.
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{escape(v)}"' for k, v in labels)
