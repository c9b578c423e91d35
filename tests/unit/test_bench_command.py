from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hpo.bench.functions import get_problem
from hpo.bench.harness import BenchConfig, run_benchmark
from hpo.bench.runners import SamplerSpec, run_one
from hpo.commands.bench import bench

pytestmark = pytest.mark.unit


def test_tiny_benchmark_writes_table_json_and_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = CliRunner().invoke(
        bench,
        [
            "--samplers", "random,random@1000",
            "--functions", "branin,mixed",
            "--budgets", "5,10",
            "--seeds", "2",
            "--no-dlib",
            "--jobs", "2",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "**10 evaluations**" in result.output and "| mixed |" in result.output
    payload = json.loads((out / "results.json").read_text())
    assert {r["sampler"] for r in payload["runs"]} == {"random", "random@1000"}
    assert len(payload["runs"]) == 2 * 2 * 2
    assert all(len(r["values"]) == 10 for r in payload["runs"])
    assert payload["meta"]["command"].startswith("hpo bench")
    assert set(payload["summary"]) == {"5", "10"}
    for fn in ("branin", "mixed"):
        assert (out / "figures" / f"{fn}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_second_call_with_the_same_out_resumes_from_the_journal(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["--samplers", "random", "--functions", "branin", "--budgets", "4", "--no-dlib"]
    first = CliRunner().invoke(bench, [*args, "--seeds", "2", "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2
    second = CliRunner().invoke(bench, [*args, "--seeds", "3", "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert "resuming: 2 finished runs" in second.output
    # Only seed 2 ran this time; the results hold all three seeds.
    assert len((out / "runs.jsonl").read_text().splitlines()) == 3
    payload = json.loads((out / "results.json").read_text())
    assert sorted(r["seed"] for r in payload["runs"]) == [0, 1, 2]


def test_torch_threads_are_limited_in_the_process_that_runs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        config = BenchConfig(
            (SamplerSpec("random"),), ("branin",), budgets=(2,), seeds=1, torch_threads=1
        )
        run_benchmark(config)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_scaling_the_objective_reports_unscaled_values() -> None:
    # Random search ignores values, so x1000 must give the very same (unscaled) trace.
    problem = get_problem("branin")
    plain = run_one(SamplerSpec("random"), problem, 8, seed=3)
    scaled = run_one(SamplerSpec("random", 1e3), problem, 8, seed=3)
    assert plain == scaled


def test_runs_are_seeded_and_in_process_equals_parallel() -> None:
    config = BenchConfig((SamplerSpec("random"),), ("goldstein2",), budgets=(6,), seeds=2)
    serial = run_benchmark(config)
    parallel = run_benchmark(BenchConfig(**{**config.__dict__, "jobs": 2}))
    assert [r.values for r in serial] == [r.values for r in parallel]
    assert serial[0].values != serial[1].values


def test_bad_budgets_are_rejected_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench, ["--budgets", "ten", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "comma-separated integers" in result.output


def test_dlib_runs_as_a_seeded_ask_tell_loop_on_a_mixed_space() -> None:
    pytest.importorskip("dlib")
    problem = get_problem("mixed")
    seen: list[dict[str, object]] = []
    inner = problem.fn

    def spy(params: Mapping[str, Any]) -> float:
        seen.append(dict(params))
        return inner(params)

    spied = type(problem)(problem.name, problem.space, spy, problem.optimum, problem.argmin)
    first = run_one(SamplerSpec("dlib"), spied, 12, seed=1)
    assert first == run_one(SamplerSpec("dlib"), problem, 12, seed=1)
    for params in seen:
        assert params["activation"] in problem.space["activation"]["choices"]
        assert isinstance(params["depth"], int) and 1 <= params["depth"] <= 12
        assert 1e-5 <= params["lr"] <= 1.0  # type: ignore[operator]


def test_suite_picks_the_functions_and_a_mistyped_name_is_refused_before_any_run(
    tmp_path: Path,
) -> None:
    from hpo.bench.functions import problems_of
    from hpo.commands.bench import _functions

    assert _functions("", "original") == problems_of("original")
    assert "branin" in problems_of("original") and "branin" not in problems_of("added")
    assert set(_functions("", "all")) == set(problems_of("original")) | set(problems_of("added"))
    assert _functions("hartmann3+noise0.1, branin", "added") == ("hartmann3+noise0.1", "branin")
    out = tmp_path / "bench"
    result = CliRunner().invoke(
        bench, ["--samplers", "random", "--functions", "branin,branni", "--no-dlib",
                "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "unknown benchmark function 'branni'" in result.output
    assert not out.exists()
