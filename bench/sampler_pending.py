"""Ask cost of the Optuna-backed samplers with pending trials, as the service uses them.

The service keeps one sampler per study and, before every claim, tells it the same history
with the current pending configurations and asks once. This replays that: for each sampler and
history size, K consecutive (tell, ask) rounds with 0 pending and with P pending configurations
(a new random set each round), on one sampler object, alternating the two cases round by round
so machine noise hits both alike. It prints the median CPU time of an ask (with its tell) per
case, the ratio pending / none, and the sampler's Optuna study size after the last round (which
grew by pending + 1 trials every ask before issue 12).

    .venv/bin/python bench/sampler_pending.py [--samplers tpe,gp,cmaes] [--history 100,1000]
                                              [--pending 32] [--rounds 30]

GP asks with more than `max_observations` (200) observations are TPE's (the GP falls back), so
GP's figure at 1000 is the fallback's; pass `--gp-max-observations` to measure the GP itself.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch

from hpo.samplers import Observation, default_registry
from hpo.space import space_from_dict

SPACE = space_from_dict(
    {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 16, "high": 512, "log": True},
        "depth": {"type": "int", "low": 1, "high": 4},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "batch_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
        "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    }
)


def objective(p: dict[str, Any]) -> float:
    return float((np.log10(p["lr"]) + 3) ** 2 + p["dropout"] + abs(p["depth"] - 2) / 4)


def measure(name: str, n_history: int, n_pending: int, rounds: int, options: dict[str, Any]) -> str:
    rng = np.random.default_rng(0)
    history = [Observation(p, objective(p)) for p in SPACE.sample(rng, n_history)]
    sampler = default_registry().create(name, SPACE, direction="minimize", seed=0, options=options)
    sampler.tell(history, [])
    sampler.ask(1)  # build the study once, as the service's first claim does
    times: dict[int, list[float]] = {0: [], n_pending: []}
    for r in range(2 * rounds):
        k = n_pending if r % 2 else 0
        pending = SPACE.sample(rng, k) if k else []
        start = time.process_time()
        sampler.tell(history, pending)
        sampler.ask(1)
        times[k].append(time.process_time() - start)
    none, some = statistics.median(times[0]), statistics.median(times[n_pending])
    kept = getattr(sampler, "kept_trials", "-")
    return (
        f"| {name} | {n_history} | {1000 * none:.1f} | {1000 * some:.1f} | "
        f"{some / none:.2f}x | {kept} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samplers", default="tpe,gp,cmaes")
    parser.add_argument("--history", default="100,1000")
    parser.add_argument("--pending", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--gp-max-observations", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"| sampler | finished | ask ms, 0 pending | ask ms, {args.pending} pending | ratio | "
        "study trials after |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.samplers.split(","):
        for n in (int(h) for h in args.history.split(",")):
            options: dict[str, Any] = {}
            if name == "gp" and args.gp_max_observations is not None:
                options["max_observations"] = args.gp_max_observations
            rounds = max(3, args.rounds // 5) if name == "gp" and n <= 200 else args.rounds
            print(measure(name, n, args.pending, rounds, options), flush=True)


if __name__ == "__main__":
    main()
