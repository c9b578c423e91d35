"""TPE's fast paths on and off, in one process: CPU per suggestion of the service's ask.

The service's cached TPE sampler is extended with new results and told the current pending
configurations before each ask (`IncrementalSampler.extend`); a claim batch asks for several at
once. This replays that on the 6-D mixed space of bench/sampler_pending.py: for each history
size, R rounds of (extend by one result, new pending set of P, ask k), alternating round by
round between the sampler with the fast paths (SciPy's normal CDFs, kept internal rows, one fit
per ask: hpo/samplers/_optuna_log_ndtr.py, _tpe_repr.py, `_FixedSpaceTPE`) and the same sampler
with Optuna's own code paths restored, so machine noise falls on both alike. Prints the median
CPU ms per suggestion of each and the ratio.

    .venv/bin/python bench/tpe_fast_paths.py [--history 100,1000] [--pending 32]
                                             [--draws 1,4] [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
from optuna.samplers._tpe import _erf, _truncnorm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sampler_pending import SPACE, objective

from hpo.samplers import IncrementalSampler, Observation, default_registry
from hpo.samplers._optuna import _FixedSpaceTPE


def _optunas_log_ndtr(a: Any) -> Any:
    return np.frompyfunc(_truncnorm._log_ndtr_single, 1, 1)(a).astype(float)


def _optunas_ndtr(a: Any) -> Any:
    return 0.5 + 0.5 * _erf.erf(np.asarray(a) / 2**0.5)


@contextmanager
def optunas_own_paths() -> Iterator[None]:
    """Optuna's normal CDFs, its per-ask internal representation and a fit per draw."""
    own: dict[tuple[Any, str], Any] = {
        (_truncnorm, "_log_ndtr"): _optunas_log_ndtr,
        (_truncnorm, "_ndtr"): _optunas_ndtr,
        (_FixedSpaceTPE, "_get_internal_repr"): optuna.samplers.TPESampler._get_internal_repr,
        (_FixedSpaceTPE, "_build_parzen_estimator"): (
            optuna.samplers.TPESampler._build_parzen_estimator
        ),
    }
    saved = {key: getattr(*key) for key in own}
    for (owner, name), value in own.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name), value in saved.items():
            setattr(owner, name, value)


def measure(n_history: int, n_pending: int, draws: int, rounds: int) -> str:
    rng = np.random.default_rng(0)
    results = [Observation(p, objective(p)) for p in SPACE.sample(rng, n_history + rounds)]
    samplers = {}
    for arm in ("fast", "optuna"):
        s = cast(
            IncrementalSampler,
            default_registry().create("tpe", SPACE, direction="minimize", seed=0),
        )
        s.tell(results[:n_history], [])
        s.ask(1)
        samplers[arm] = s
    times: dict[str, list[float]] = {"fast": [], "optuna": []}
    for i in range(rounds):
        new, pending = results[n_history + i], SPACE.sample(rng, n_pending)
        order = ("fast", "optuna") if i % 2 == 0 else ("optuna", "fast")
        for arm in order:
            with optunas_own_paths() if arm == "optuna" else nullcontext():
                start = time.process_time()
                samplers[arm].extend([new], pending)
                samplers[arm].ask(draws)
                times[arm].append((time.process_time() - start) / draws)
    fast, slow = statistics.median(times["fast"]), statistics.median(times["optuna"])
    return (
        f"| {n_history} | {n_pending} | {draws} | {1000 * slow:.1f} | {1000 * fast:.1f} | "
        f"{fast / slow:.2f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", default="100,1000")
    parser.add_argument("--pending", type=int, default=32)
    parser.add_argument("--draws", default="1,4")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(
        "| finished | pending | draws per ask | Optuna's paths, ms per suggestion "
        "| fast paths, ms | ratio |"
    )
    print("|---|---|---|---|---|---|")
    for n in (int(h) for h in args.history.split(",")):
        for k in (int(d) for d in args.draws.split(",")):
            print(measure(n, args.pending, k, args.rounds), flush=True)


if __name__ == "__main__":
    main()
