"""Feeding a sampler its study's results as they come in: the one place that knows whether a
sampler takes only the new results (`IncrementalSampler.extend`) or the whole history again
(`Sampler.tell`). The service's sampler cache and `hpo.optimize` both go through `SamplerFeed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from hpo.samplers._base import Observation, Sampler
from hpo.space import Params


@runtime_checkable
class IncrementalSampler(Sampler, Protocol):
    """A sampler that can be told new results without being passed its history again.
    `BaseSampler` is one; a sampler of your own may be one without subclassing it."""

    def extend(self, new: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        """`tell(history + new, pending)`, where history is everything told so far."""
        ...

    @property
    def n_kept(self) -> int:
        """How many observations the sampler keeps something for between tells (0 when it
        keeps nothing per observation): what the service's sampler cache bound counts."""
        ...


class SamplerFeed:
    """One sampler and the results it has not been told yet.

    `add` results in the order they finished, then `tell(pending)` before each ask. An
    `IncrementalSampler` is told the whole history on its first tell (and after `restart`),
    then only what was added since, which the feed then drops: it keeps no history. Any other
    sampler is told the whole history every time, which the feed keeps for it.
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self._incremental = sampler if isinstance(sampler, IncrementalSampler) else None
        # Incremental: added since the last tell. Otherwise: the whole history.
        self._held: list[Observation] = []
        self._fresh = True  # the next tell gives the whole history (`tell`, not `extend`)

    def add(self, observations: Iterable[Observation]) -> None:
        self._held.extend(observations)

    def append(self, observation: Observation) -> None:
        self._held.append(observation)

    def restart(self) -> None:
        """Forget what was added: the next tell starts the sampler's history over."""
        self._held, self._fresh = [], True

    def tell(self, pending: Sequence[Params] = ()) -> None:
        """Bring the sampler up to date with every result added, and these pending trials."""
        incremental = self._incremental
        if incremental is None:
            self.sampler.tell(self._held, pending)
            return
        if self._fresh:
            incremental.tell(self._held, pending)
        else:
            incremental.extend(self._held, pending)
        self._held, self._fresh = [], False

    @property
    def held(self) -> int:
        """Observations the feed itself holds (not yet told, or the whole history)."""
        return len(self._held)

    @property
    def weight(self) -> int:
        """Observations held for this sampler: what it keeps, and what the feed holds."""
        kept = self._incremental.n_kept if self._incremental is not None else 0
        return kept + len(self._held)
