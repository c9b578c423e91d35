"""The sampler benchmark: every sampler x function x seed, best-so-far log10 simple regret,
median and IQR over seeds at each budget, written out as Markdown, JSON and PNG.

Only the largest budget is run: best-so-far after b evaluations of a 200-evaluation run is the
b-evaluation result, as long as a sampler does not plan around `n_trials` (none of ours does).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hpo.bench.functions import get_problem
from hpo.bench.plots import plot_function
from hpo.bench.records import REGRET_FLOOR, Cell, RunRecord, regret_curve
from hpo.bench.report import markdown_table, scale_table, timing_table
from hpo.bench.runners import SamplerSpec, run_one


@dataclass(frozen=True)
class BenchConfig:
    samplers: tuple[SamplerSpec, ...]
    functions: tuple[str, ...]
    budgets: tuple[int, ...] = (50, 200)
    seeds: int = 10
    # Fewer seeds for a slow sampler (e.g. {"gp": 3}); the table says how many each used.
    seeds_for: dict[str, int] = field(default_factory=dict)
    jobs: int = 1
    # PyTorch threads per run (Optuna's GP computes in torch). One: on this 2-core machine
    # torch's default of one thread per core made a GP run 4x slower in wall time and 6x in
    # CPU (branin, 200 evaluations: 49 s / 64 s CPU against 13.5 s / 11 s), threads spinning
    # against each other and against the other jobs. None leaves torch's default.
    torch_threads: int | None = 1

    @property
    def n_trials(self) -> int:
        return max(self.budgets)

    def seeds_of(self, spec: SamplerSpec) -> int:
        return self.seeds_for.get(spec.label, self.seeds_for.get(spec.name, self.seeds))


def _limit_torch_threads(n: int | None) -> None:
    if n is None or importlib.util.find_spec("torch") is None:
        return
    import torch  # optional here, and seconds to import: only when it is installed and wanted

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _task(
    spec: SamplerSpec, function: str, seed: int, n_trials: int, torch_threads: int | None = None
) -> RunRecord:
    _limit_torch_threads(torch_threads)  # in the worker process that runs it
    start = time.perf_counter()
    values = run_one(spec, get_problem(function), n_trials, seed)
    return RunRecord(spec.label, function, seed, values, time.perf_counter() - start)


def _tasks(config: BenchConfig) -> list[tuple[SamplerSpec, str, int]]:
    return [
        (spec, fn, seed)
        for spec in config.samplers
        for fn in config.functions
        for seed in range(config.seeds_of(spec))
    ]


def _record_of(r: dict[str, Any]) -> RunRecord:
    return RunRecord(
        r["sampler"],
        r["function"],
        int(r["seed"]),
        [math.nan if v is None else float(v) for v in r["values"]],
        float(r["seconds"]),
    )


def _record_json(r: RunRecord) -> dict[str, Any]:
    return {**asdict(r), "values": [_json_float(v) for v in r.values]}


def load_records(path: Path) -> list[RunRecord]:
    """The runs of a previous results.json, or of a run journal (`runs.jsonl`, one run per
    line, as `run_benchmark` appends them); failed evaluations come back as NaN. A journal's
    last line may be cut short by a kill: it is skipped."""
    text = path.read_text()
    if path.suffix != ".jsonl":
        return [_record_of(r) for r in json.loads(text)["runs"]]
    records = []
    for line in text.splitlines():
        try:
            records.append(_record_of(json.loads(line)))
        except (ValueError, KeyError):
            continue  # a half-written last line (the process was killed mid-write)
    return records


def append_record(journal: Path, record: RunRecord) -> None:
    """Append one finished run to the journal, so a run cut off later loses only the runs
    still in flight (`hpo bench` resumes from it)."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(_record_json(record), allow_nan=False) + "\n"
    with journal.open("a+b") as f:
        # A line cut short by a kill has no newline: start on a fresh line, not after it.
        if f.tell() > 0:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode())


def run_benchmark(
    config: BenchConfig,
    on_done: Callable[[RunRecord, int], None] | None = None,
    reuse: Sequence[RunRecord] = (),
    journal: Path | None = None,
) -> list[RunRecord]:
    """Run every task (in `config.jobs` processes when > 1); `on_done(record, total)` is called
    as each finishes, after it is appended to `journal` (when given). A task found in `reuse`
    (same sampler label, function and seed, at least the smallest budget's evaluations) is
    taken from there instead of run again, cut to `n_trials`.
    Records come back in the order of `config.samplers`, `config.functions`, then seed."""
    for fn in config.functions:
        get_problem(fn)  # fail fast on a bad name, before any process starts
    # A reused run counts for the budgets it reaches (GP may have only the small one).
    previous: dict[tuple[str, str, int], RunRecord] = {}
    for r in reuse:
        key = (r.sampler, r.function, r.seed)
        if len(r.values) >= max(
            min(config.budgets), len(previous[key].values) if key in previous else 0
        ):
            previous[key] = r  # the longest run of a seed wins
    records: list[RunRecord] = []
    tasks = []
    for spec, fn, seed in _tasks(config):
        old = previous.get((spec.label, fn, seed))
        if old is None:
            tasks.append((spec, fn, seed))
        else:
            records.append(
                RunRecord(old.sampler, fn, seed, old.values[: config.n_trials], old.seconds)
            )

    def done(record: RunRecord) -> None:
        records.append(record)
        if journal is not None:
            append_record(journal, record)
        if on_done is not None:
            on_done(record, len(tasks))

    if config.jobs <= 1:
        for spec, fn, seed in tasks:
            done(_task(spec, fn, seed, config.n_trials, config.torch_threads))
    else:
        with ProcessPoolExecutor(max_workers=config.jobs) as pool:
            futures = [
                pool.submit(_task, s, f, seed, config.n_trials, config.torch_threads)
                for s, f, seed in tasks
            ]
            for future in as_completed(futures):
                done(future.result())
    order = {s.label: i for i, s in enumerate(config.samplers)}
    fn_order = {f: i for i, f in enumerate(config.functions)}
    records.sort(key=lambda r: (order.get(r.sampler, 0), fn_order.get(r.function, 0), r.seed))
    return records


def curves(records: Sequence[RunRecord], sampler: str, function: str) -> npt.NDArray[np.float64]:
    """(seeds, evaluations) array of best-so-far log10 regret. Runs of different lengths (a
    slow sampler given the small budget only, for some seeds) are padded with NaN."""
    optimum = get_problem(function).optimum
    rows = [
        regret_curve(r.values, optimum)
        for r in records
        if r.sampler == sampler and r.function == function
    ]
    out = np.full((len(rows), max(map(len, rows), default=0)), np.nan)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def summarize(
    records: Sequence[RunRecord], budgets: Sequence[int]
) -> dict[int, dict[str, dict[str, Cell]]]:
    """budget -> function -> sampler -> Cell."""
    samplers = list(dict.fromkeys(r.sampler for r in records))
    functions = list(dict.fromkeys(r.function for r in records))
    out: dict[int, dict[str, dict[str, Cell]]] = {}
    for budget in budgets:
        out[budget] = {}
        for fn in functions:
            out[budget][fn] = {}
            for s in samplers:
                c = curves(records, s, fn)
                if c.shape[1] < budget:
                    continue
                col = c[:, budget - 1]
                col = col[~np.isnan(col)]  # runs that stopped short of this budget
                if col.size == 0:
                    continue
                q25, med, q75 = np.percentile(col, [25, 50, 75])
                out[budget][fn][s] = Cell(float(med), float(q25), float(q75), len(col))
    return out


def _json_float(x: float) -> float | None:
    # JSON has no NaN or inf: a failed evaluation (or a curve with none yet) is null.
    return x if math.isfinite(x) else None


def write_outputs(
    records: Sequence[RunRecord],
    config: BenchConfig,
    out_dir: Path,
    meta: dict[str, Any] | None = None,
) -> dict[int, dict[str, dict[str, Cell]]]:
    """Write results.json (raw values of every run + summary), table.md and one PNG per
    function under out_dir/figures; returns the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(records, config.budgets)
    table = markdown_table(summary)
    timing = "Wall-clock per run (evaluations included)\n\n" + timing_table(records)
    scale = scale_table(records, max(config.budgets))
    if scale:
        timing += "\n\nScale check: the objective multiplied by a factor\n\n" + scale
    (out_dir / "table.md").write_text(table + "\n" + timing + "\n")
    payload = {
        "meta": {**(meta or {}), "budgets": list(config.budgets), "floor": REGRET_FLOOR},
        "summary": {
            str(b): {
                fn: {
                    s: {
                        k: _json_float(v) if isinstance(v, float) else v
                        for k, v in asdict(c).items()
                    }
                    for s, c in cells.items()
                }
                for fn, cells in by_fn.items()
            }
            for b, by_fn in summary.items()
        },
        "runs": [_record_json(r) for r in records],
    }
    (out_dir / "results.json").write_text(json.dumps(payload, allow_nan=False) + "\n")
    # Scaled columns (lipo@1000) would sit on top of their sampler's line: tables only.
    samplers = [s for s in dict.fromkeys(r.sampler for r in records) if "@" not in s]
    for fn in dict.fromkeys(r.function for r in records):
        by_sampler = {s: curves(records, s, fn) for s in samplers}
        plot_function(fn, by_sampler, out_dir / "figures" / f"{fn}.png")
    return summary


def machine_meta() -> dict[str, Any]:
    """Where and when: CPU model, core count, date (recorded beside every result)."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
