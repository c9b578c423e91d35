"""Whether a comparison's ranking is a verdict or noise: which samplers cannot be told apart
from the leader at this many seeds.

A sampler is *within noise* of the leader when the interquartile ranges of their seeds' best
values overlap (over three seeds a <= b <= c the range is (a+b)/2 .. (b+c)/2): the middle
half of one sampler's seeds reaches into the other's, so another draw of seeds could swap
them. Deterministic and cheap, and it says what a reader of the table can check by eye. One
seed has no spread, so at one seed every sampler with a value is within noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SamplerSpread:
    sampler: str
    rank: int
    q25: float | None
    q75: float | None
    n_seeds: int  # seeds with a best value


@dataclass(frozen=True)
class NoiseVerdict:
    within_noise: list[str]  # the leader first, then the samplers it cannot be told from
    verdict: str | None  # None while no sampler has a value


def judge(spreads: Sequence[SamplerSpread]) -> NoiseVerdict:
    """The samplers within noise of the leader (best rank, first listed on ties) and the
    sentence that says so: "tpe, lipo, random: within noise at 3 seeds"."""
    ranked = sorted((s for s in spreads if s.q25 is not None), key=lambda s: s.rank)
    if not ranked:
        return NoiseVerdict([], None)
    leader = ranked[0]
    seeds = min(s.n_seeds for s in ranked)
    if seeds < 2:
        within = [s.sampler for s in ranked]
    else:
        within = [s.sampler for s in ranked if _overlap(leader, s)]
    at = f"at {seeds} seed{'s' if seeds != 1 else ''}"
    if len(ranked) == 1:
        return NoiseVerdict(within, f"{leader.sampler}: the only sampler with a result {at}")
    if len(within) == 1:
        return NoiseVerdict(
            within,
            f"{leader.sampler} leads beyond the noise {at} (its interquartile range is clear "
            "of every other sampler's)",
        )
    if seeds < 2:
        return NoiseVerdict(
            within, f"{', '.join(within)}: within noise {at} (one seed has no spread)"
        )
    return NoiseVerdict(within, f"{', '.join(within)}: within noise {at}")


def _overlap(a: SamplerSpread, b: SamplerSpread) -> bool:
    assert a.q25 is not None and a.q75 is not None and b.q25 is not None and b.q75 is not None
    return a.q25 <= b.q75 and b.q25 <= a.q75
