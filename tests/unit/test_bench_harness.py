from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hpo.bench import harness
from hpo.bench.functions import Problem
from hpo.bench.harness import BenchConfig, run_benchmark, summarize, write_outputs
from hpo.bench.records import REGRET_FLOOR, best_so_far, log10_regret, regret_curve
from hpo.bench.report import markdown_table
from hpo.bench.runners import SamplerSpec
from hpo.errors import ValidationError

pytestmark = pytest.mark.unit


def test_log10_regret_is_floored_at_minus_12() -> None:
    assert log10_regret(1.0 + 1e-3, 1.0) == pytest.approx(-3.0)
    assert log10_regret(1.0, 1.0) == REGRET_FLOOR == -12.0
    assert log10_regret(0.999, 1.0) == -12.0  # below the optimum: rounding, counts as exact
    assert log10_regret(1e-13, 0.0) == -12.0
    assert log10_regret(1e-12, 0.0) == -12.0
    assert log10_regret(math.inf, 0.0) == math.inf


def test_best_so_far_skips_failed_evaluations() -> None:
    assert best_so_far([3.0, math.nan, 5.0, 1.0, 2.0]) == [3.0, 3.0, 3.0, 1.0, 1.0]
    assert best_so_far([math.nan, 2.0]) == [math.inf, 2.0]
    assert regret_curve([10.0, 1.0, 0.0], 0.0) == [1.0, 0.0, -12.0]


def test_sampler_spec_parses_a_scale() -> None:
    assert SamplerSpec.parse("lipo") == SamplerSpec("lipo", 1.0)
    assert SamplerSpec.parse("lipo@1e3").label == "lipo@1000"
    assert SamplerSpec.parse("lipo@1e-3").label == "lipo@0.001"
    with pytest.raises(ValidationError):
        SamplerSpec.parse("lipo@-1")
    with pytest.raises(ValidationError):
        SamplerSpec.parse("lipo@big")


def _fake_run_one(spec: SamplerSpec, problem: Problem, n_trials: int, seed: int) -> list[float]:
    # "good" halves its regret each step from 1 + seed; "bad" stays at 1 + seed.
    optimum = problem.optimum
    if spec.name == "good":
        return [optimum + 0.5**i * (1 + seed) for i in range(n_trials)]
    return [optimum + 1.0 + seed] * n_trials


def test_summary_and_table_on_a_fake_sampler(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(harness, "run_one", _fake_run_one)
    config = BenchConfig(
        samplers=(SamplerSpec("good"), SamplerSpec("bad")),
        functions=("branin", "goldstein2"),
        budgets=(3, 5),
        seeds=3,
        seeds_for={"bad": 2},
    )
    seen: list[int] = []
    records = run_benchmark(config, lambda record, total: seen.append(total))
    assert len(records) == len(seen) == 2 * (3 + 2)
    summary = summarize(records, config.budgets)
    good = summary[5]["branin"]["good"]
    # seeds 0, 1, 2 reach regret (1+seed)/16 at the 5th evaluation: median 2/16.
    assert good.median == pytest.approx(math.log10(2 / 16))
    assert good.n_seeds == 3 and summary[5]["branin"]["bad"].n_seeds == 2
    table = markdown_table(summary)
    assert "**3 evaluations**" in table and "| goldstein2 |" in table
    assert f"**{good.median:.2f} [" in table  # the best median in a row is bold

    write_outputs(records, config, tmp_path, {"command": "test"})
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["meta"]["command"] == "test"
    assert len(payload["runs"]) == 10 and len(payload["runs"][0]["values"]) == 5
    assert (tmp_path / "table.md").read_text().startswith("**3 evaluations**")
    for fn in config.functions:
        assert (tmp_path / "figures" / f"{fn}.png").read_bytes()[:4] == b"\x89PNG"


def test_an_unknown_function_fails_before_running() -> None:
    config = BenchConfig(samplers=(SamplerSpec("random"),), functions=("nope",))
    with pytest.raises(ValidationError, match="unknown benchmark function"):
        run_benchmark(config)


def test_reused_runs_are_not_run_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(harness, "run_one", _fake_run_one)
    config = BenchConfig((SamplerSpec("good"),), ("branin",), budgets=(4,), seeds=2)
    write_outputs(run_benchmark(config), config, tmp_path)
    old = harness.load_records(tmp_path / "results.json")

    def must_not_run(*args: object) -> list[float]:
        raise AssertionError("a reused run was run again")

    monkeypatch.setattr(harness, "run_one", must_not_run)
    smaller = BenchConfig((SamplerSpec("good"),), ("branin",), budgets=(3,), seeds=2)
    again = run_benchmark(smaller, reuse=old)
    assert [r.values for r in again] == [r.values[:3] for r in old]


def test_shorter_runs_count_only_for_the_budgets_they_reach() -> None:
    records = [
        harness.RunRecord("s", "branin", 0, [10.0] * 4, 0.0),
        harness.RunRecord("s", "branin", 1, [10.0] * 2, 0.0),
    ]
    summary = summarize(records, (2, 4))
    assert summary[2]["branin"]["s"].n_seeds == 2
    assert summary[4]["branin"]["s"].n_seeds == 1
    assert "(n=1)" not in markdown_table({4: summary[4]})
    assert "(n=2)" not in markdown_table(summary)


def test_scale_table_compares_scaled_runs_with_the_same_seeds() -> None:
    from hpo.bench.report import scale_table

    values = [5.0, 3.0, 1.0]
    records = [
        harness.RunRecord("s", "goldstein2", 0, values, 0.0),
        harness.RunRecord("s@1000", "goldstein2", 0, values, 0.0),
        harness.RunRecord("s@0.001", "goldstein2", 0, [5.0, 4.0, 4.0], 0.0),
    ]
    table = scale_table(records, 3)
    assert "| goldstein2 | s@1000 | -12.00 | -12.00 | 1/1 |" in table
    assert "| goldstein2 | s@0.001 | 0.00 | -12.00 | 0/1 |" in table
    assert scale_table(records[:1], 3) == ""


def test_a_journal_keeps_finished_runs_and_a_rerun_resumes_from_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    journal = tmp_path / "runs.jsonl"
    config = BenchConfig((SamplerSpec("good"),), ("branin",), budgets=(4,), seeds=3)
    calls: list[int] = []

    def cut_off_after_two(spec: SamplerSpec, problem: Problem, n: int, seed: int) -> list[float]:
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is cut off during the third run
        calls.append(seed)
        return _fake_run_one(spec, problem, n, seed)

    monkeypatch.setattr(harness, "run_one", cut_off_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(config, journal=journal)
    with journal.open("a") as f:
        f.write('{"sampler": "good", "funct')  # a line cut short by the kill
    kept = harness.load_records(journal)
    assert [r.seed for r in kept] == [0, 1]

    monkeypatch.setattr(harness, "run_one", _fake_run_one)
    ran: list[int] = []
    records = run_benchmark(config, lambda r, total: ran.append(r.seed), kept, journal)
    assert ran == [2]  # only the missing seed runs again
    assert [r.seed for r in records] == [0, 1, 2]
    assert [r.seed for r in harness.load_records(journal)] == [0, 1, 2]
    assert records[0].values == kept[0].values
