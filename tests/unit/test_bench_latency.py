from __future__ import annotations

import pytest

from hpo.bench.latency import LatencyCase, LatencyRow, latency_table, measure, run_latency

pytestmark = pytest.mark.unit


def test_latency_rows_for_fresh_and_incremental() -> None:
    rows = measure(LatencyCase("random", "random", (20,), 2), 20)
    assert [r.mode for r in rows] == ["fresh", "incremental"]
    assert all(r.n_obs == 20 and r.dim == 6 and r.reps == 2 for r in rows)
    assert all(r.ask_ms >= 0 and r.tell_ms >= 0 for r in rows)


def test_run_latency_reports_each_row_and_tabulates() -> None:
    seen: list[LatencyRow] = []
    plan = [LatencyCase("qmc-small", "qmc", (5, 10), 1)]
    rows = run_latency(plan, dlib_reps=0, on_row=seen.append)
    assert rows == seen and len(rows) == 4
    table = latency_table(rows)
    assert table.count("| qmc-small |") == 4


def test_rows_carry_cpu_time_beside_wall_time() -> None:
    [fresh, _] = measure(LatencyCase("random", "random", (30,), 3), 30)
    assert fresh.tell_cpu_ms > 0 and fresh.ask_cpu_ms > 0
    table = latency_table([fresh])
    assert "tell CPU p50 (ms)" in table and f"| {fresh.ask_cpu_ms:.2f} |" in table
