"""Samplers: one protocol for every search algorithm, and a registry of them by name.

    from hpo.samplers import Observation, default_registry

    sampler = default_registry().create("tpe", space, direction="maximize", seed=0)
    sampler.tell(completed=[Observation({"lr": 1e-3}, 0.91)], pending=[])
    [params] = sampler.ask(1)

Built in: `grid`, `random`, `qmc` (ours, numpy/scipy); `tpe`, `gp`, `cmaes`, `nsga2` (Optuna's,
behind one adapter, `hpo.samplers._optuna`); `lipo` (ours, `hpo.samplers.lipo`). The protocol
and its lifecycle are documented in `hpo.samplers._base`; `SamplerFeed` tells a sampler its
results as they come in (only the new ones to an `IncrementalSampler`). `hpo.samplers.testing`
is the contract suite every sampler passes, for a sampler of your own too.
"""

from __future__ import annotations

from hpo.samplers._base import (
    BaseSampler,
    Direction,
    Observation,
    ObservationState,
    Sampler,
    SamplerFactory,
    losses,
    params_key,
    taken_key,
)
from hpo.samplers._feed import IncrementalSampler, SamplerFeed
from hpo.samplers._options import OPTION_RULES, Option, check_options
from hpo.samplers._registry import BUILTIN_SAMPLERS, SamplerRegistry, default_registry
from hpo.states import DIRECTIONS

__all__ = [
    "BUILTIN_SAMPLERS",
    "DIRECTIONS",
    "OPTION_RULES",
    "BaseSampler",
    "Direction",
    "IncrementalSampler",
    "Observation",
    "ObservationState",
    "Option",
    "Sampler",
    "SamplerFactory",
    "SamplerFeed",
    "SamplerRegistry",
    "check_options",
    "default_registry",
    "losses",
    "params_key",
    "taken_key",
]
