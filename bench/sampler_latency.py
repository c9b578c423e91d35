"""Ask/tell latency of the samplers as the service uses them (figures in bench/RESULTS.md).

    .venv/bin/python bench/sampler_latency.py [--out bench/out/latency] [--only lipo,dlib]

Same as `hpo bench --latency`: LIPO, TPE, GP (with its `max_observations` cap, and without it) at
100 / 500 / 1000 observations of a 6-dimensional problem, fresh (rebuilt from the history, as
the service does per ask) and incremental (one more trial, as `hpo.optimize` does); dlib's
get_next_x at 1000 when dlib is installed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hpo.bench.harness import machine_meta
from hpo.bench.latency import DEFAULT_PLAN, latency_table, run_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/latency"))
    parser.add_argument("--only", default="", help="comma-separated case labels, e.g. lipo,tpe")
    args = parser.parse_args()
    only = {x for x in args.only.split(",") if x}
    plan = [case for case in DEFAULT_PLAN if not only or case.label in only]
    rows = run_latency(
        plan,
        dlib_reps=3 if not only or "dlib" in only else 0,
        on_row=lambda row: print(row.describe(), flush=True),
    )
    meta = machine_meta()
    text = f"{meta['date']} on {meta['cpu']} ({meta['cores']} cores)\n\n" + latency_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
