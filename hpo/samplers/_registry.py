"""Sampler registry: name -> factory, resolved lazily by import path.

Factories are given as `"package.module:Attribute"` strings so that `import hpo.samplers` stays
cheap (no optuna/torch) and a sampler whose module does not exist yet (or whose optional
dependency is missing) does not break the others: `names()` lists only the ones that import.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from hpo.errors import UnknownSamplerError, ValidationError
from hpo.samplers._base import BaseSampler, Direction, Sampler, SamplerFactory
from hpo.samplers._options import check_options
from hpo.space import SearchSpace

BUILTIN_SAMPLERS: Mapping[str, str] = MappingProxyType(
    {
        "grid": "hpo.samplers._grid:GridSampler",
        "random": "hpo.samplers._random:RandomSampler",
        "qmc": "hpo.samplers._qmc:QMCSampler",
        "tpe": "hpo.samplers._optuna:TPESampler",
        "gp": "hpo.samplers._optuna:GPSampler",
        "cmaes": "hpo.samplers._optuna:CmaEsSampler",
        "nsga2": "hpo.samplers._optuna:NSGAIISampler",
        "lipo": "hpo.samplers.lipo:LipoSampler",
    }
)


def _resolve(path: str) -> SamplerFactory:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    factory: SamplerFactory = getattr(module, attr)
    return factory


class SamplerRegistry:
    """An immutable map from sampler name to factory (or its `"module:attr"` import path).

    >>> registry = SamplerRegistry()                      # the built-in samplers
    >>> sampler = registry.create("tpe", space, direction="maximize", seed=1)
    >>> extended = registry.with_sampler("mine", MySampler)
    """

    def __init__(self, factories: Mapping[str, SamplerFactory | str] | None = None) -> None:
        self._factories: Mapping[str, SamplerFactory | str] = MappingProxyType(
            dict(BUILTIN_SAMPLERS if factories is None else factories)
        )

    def with_sampler(self, name: str, factory: SamplerFactory | str) -> SamplerRegistry:
        """A new registry with `name` added (or replaced)."""
        return SamplerRegistry({**self._factories, name: factory})

    def registered_names(self) -> tuple[str, ...]:
        """Every registered name, importable or not."""
        return tuple(self._factories)

    def names(self) -> tuple[str, ...]:
        """The names whose factory can be imported now (a missing optional module is left out)."""
        out = []
        for name in self._factories:
            try:
                self.factory(name)
            except UnknownSamplerError:
                continue
            out.append(name)
        return tuple(out)

    def entry(self, name: str) -> SamplerFactory | str:
        """What `name` was registered with: its import path, or the factory itself (what a
        sampler process is sent to build the same sampler)."""
        entry = self._factories.get(name)
        if entry is None:
            raise UnknownSamplerError(
                f"unknown sampler {name!r}: use one of {', '.join(self._factories)}"
            )
        return entry

    def factory(self, name: str) -> SamplerFactory:
        """The factory for `name`; raises UnknownSamplerError with the valid names."""
        entry = self._factories.get(name)
        if entry is None:
            raise UnknownSamplerError(
                f"unknown sampler {name!r}: use one of {', '.join(self._factories)}"
            )
        if not isinstance(entry, str):
            return entry
        try:
            return _resolve(entry)
        except (ImportError, AttributeError) as e:
            raise UnknownSamplerError(
                f"sampler {name!r} is registered but cannot be loaded ({e}); "
                "install its dependencies or choose another sampler"
            ) from e

    def create(
        self,
        name: str,
        space: SearchSpace,
        *,
        direction: Direction = "minimize",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        directions: Sequence[Direction] | None = None,
        n_constraints: int = 0,
    ) -> Sampler:
        """Build the sampler `name` for `space` (raises UnknownSamplerError, ValidationError).
        A built-in sampler's options are checked against its rules first (types, ranges).

        `directions` (one per objective; several only for a sampler whose class says
        `multi_objective = True`) and `n_constraints` (constraint violations each observation
        carries) are passed on only when they say more than `direction` alone, so a sampler of
        your own that knows neither keeps working on single-objective studies."""
        factory = self.factory(name)
        if self._factories.get(name) == BUILTIN_SAMPLERS.get(name):
            check_options(name, options)
        if directions is not None and len(directions) > 1:
            if not getattr(factory, "multi_objective", False):
                raise ValidationError(
                    f"sampler {name} cannot optimize several objectives: use one of "
                    f"{', '.join(self.multi_objective_names())}"
                )
            return factory(
                space,
                direction=directions[0],
                seed=seed,
                options=options,
                directions=tuple(directions),
                n_constraints=n_constraints,
            )  # type: ignore[call-arg]
        if n_constraints and _knows_objectives(factory):
            return factory(
                space, direction=direction, seed=seed, options=options, n_constraints=n_constraints
            )  # type: ignore[call-arg]
        return factory(space, direction=direction, seed=seed, options=options)

    def multi_objective_names(self) -> tuple[str, ...]:
        """The importable samplers that can optimize several objectives."""
        return tuple(n for n in self.names() if getattr(self.factory(n), "multi_objective", False))


def _knows_objectives(factory: SamplerFactory) -> bool:
    """Whether the factory takes `directions` and `n_constraints` (every `BaseSampler`)."""
    return isinstance(factory, type) and issubclass(factory, BaseSampler)


def default_registry() -> SamplerRegistry:
    """A registry of the built-in samplers: grid, random, qmc, tpe, gp, cmaes, nsga2,
    lipo."""
    return SamplerRegistry()
