"""LIPO's tell and ask at ~1000 observations in 6-D, in CPU time (a shared machine makes wall
time noisy), both paths in one run:

- fresh: a sampler built and told the whole history, then asked once (as after a restart of
  the service or an eviction from its sampler cache), `--asks` times at growing histories;
- incremental: one sampler told one new observation (`extend`) before each ask, as the
  service's per-study sampler cache and `hpo.optimize` do through `SamplerFeed`.

    .venv/bin/python bench/lipo_latency.py [--start 990] [--asks 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hpo.samplers import IncrementalSampler, Observation, default_registry
from hpo.space import space_from_dict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=int, default=990, help="observations before the first ask")
    parser.add_argument("--asks", type=int, default=10)
    args = parser.parse_args()
    space = space_from_dict({f"x{i}": {"type": "float", "low": 0, "high": 1} for i in range(6)})
    rng = np.random.default_rng(0)

    def objective(x: np.ndarray) -> float:
        return float(np.sum((x - 0.3) ** 2) + 0.1 * np.sin(10 * x).sum())

    history = []
    for _ in range(args.start + args.asks):
        x = rng.random(6)
        history.append(Observation({f"x{i}": float(v) for i, v in enumerate(x)}, objective(x)))
    fresh = []
    for k in range(args.start, args.start + args.asks):
        cold = default_registry().create("lipo", space, direction="minimize", seed=0)
        t0 = time.process_time()
        cold.tell(history[: k + 1])
        cold.ask(1)
        fresh.append(time.process_time() - t0)
    print(f"fresh tell + ask p50 {np.median(fresh) * 1e3:.1f} ms CPU at {args.start + 1}-"
          f"{args.start + args.asks} observations, each: "
          + ", ".join(f"{a * 1e3:.1f}" for a in fresh))  # fmt: skip
    sampler = default_registry().create("lipo", space, direction="minimize", seed=0)
    assert isinstance(sampler, IncrementalSampler)
    sampler.tell(history[: args.start])
    sampler.ask(1)
    tells, asks = [], []
    for k in range(args.start, args.start + args.asks):
        t0 = time.process_time()
        sampler.extend([history[k]])  # what the service's SamplerFeed does between asks
        t1 = time.process_time()
        sampler.ask(1)
        t2 = time.process_time()
        tells.append(t1 - t0)
        asks.append(t2 - t1)
    print(f"incremental tell p50 {np.median(tells) * 1e3:.2f} ms CPU")
    print(f"incremental ask  p50 {np.median(asks) * 1e3:.1f} ms CPU, each: "
          + ", ".join(f"{a * 1e3:.1f}" for a in asks))  # fmt: skip


if __name__ == "__main__":
    main()
