"""The opt-in memory probe of `hpo serve` (hpo.debug.memprobe): off unless asked, and its reports
name the line that grew."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from hpo.debug.memprobe import MemoryProbe, ProbeConfig, malloc_figures, rss_bytes

pytestmark = pytest.mark.unit


def test_off_by_default_and_with_zero() -> None:
    assert ProbeConfig.from_env({}) is None
    assert ProbeConfig.from_env({"HPO_DEBUG_TRACEMALLOC": "0"}) is None


def test_settings_from_the_environment(tmp_path: Path) -> None:
    config = ProbeConfig.from_env(
        {
            "HPO_DEBUG_TRACEMALLOC": "3",
            "HPO_DEBUG_TRACEMALLOC_FILE": str(tmp_path / "probe.txt"),
            "HPO_DEBUG_TRACEMALLOC_INTERVAL": "5",
        }
    )
    assert config == ProbeConfig(frames=3, path=tmp_path / "probe.txt", interval_s=5.0)


def test_a_report_names_what_grew_since_the_baseline(tmp_path: Path) -> None:
    was_tracing = tracemalloc.is_tracing()
    probe = MemoryProbe(ProbeConfig(frames=1, path=tmp_path / "probe.txt", interval_s=60))
    try:
        first = probe.report()
        held = [bytearray(64 * 1024) for _ in range(16)]  # 1 MiB, from this line
        second = probe.report()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    assert first.startswith("# t=") and "baseline" in first
    summary, title, top = second.splitlines()[:3]
    assert summary.startswith("# t=") and "traced_server=" in summary
    assert title.startswith("## top 25 by growth since baseline")
    assert top.endswith(f"{__file__}:37")  # the bytearrays' line, first
    assert float(top.split()[0]) >= 1024  # KiB
    assert (tmp_path / "probe.txt").read_text() == first + second
    assert len(held) == 16


def test_process_figures() -> None:
    assert rss_bytes() > 0
    figures = malloc_figures()  # None off glibc
    assert figures is None or figures["used"] > 0
