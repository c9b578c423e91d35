"""`Categorical`: a choice among strings, numbers or booleans, unordered.

Unit coordinate: choice i of n is encoded at (i + 0.5)/n; `int(u * n)` is its index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hpo.errors import SearchSpaceError, ValidationError


def _same_choice(a: object, b: object) -> bool:
    """Equal and of the same family: True is not 1, and "1" is not 1; 1 and 1.0 are equal."""
    return (
        isinstance(a, bool) == isinstance(b, bool)
        and isinstance(a, str) == isinstance(b, str)
        and a == b
    )


def _family(value: object) -> str:
    """The `_same_choice` families as a hashable key: 1 and 1.0 share "number"."""
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "number"


def _shorten(choices: Sequence[object], limit: int = 20) -> str:
    listed = ", ".join(repr(c) for c in choices[:limit])
    return f"[{listed}{', ...' if len(choices) > limit else ''}]"


@dataclass(frozen=True)
class Categorical:
    """A choice among `choices` (strings, numbers or booleans), unordered: samplers treat two
    different choices as equally far apart. The grid is every choice.

    >>> Categorical(("relu", "gelu", "tanh"))
    """

    choices: tuple[str | int | float | bool, ...]
    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        if isinstance(self.choices, str | bytes) or not isinstance(self.choices, Sequence):
            raise SearchSpaceError(
                f"choices must be a list of values, got {self.choices!r}: write choices: [a, b]"
            )
        object.__setattr__(self, "choices", tuple(self.choices))
        if len(self.choices) == 0:
            raise SearchSpaceError("choices is empty: list at least one value")
        for c in self.choices:
            if not isinstance(c, str | int | float | bool) or (
                isinstance(c, float) and not math.isfinite(c)
            ):
                raise SearchSpaceError(
                    f"choice {c!r} is not a string, a finite number or a boolean"
                )
        # One pass with a set (pairwise comparison was quadratic: 50 000 choices took
        # minutes, inside every claim of the study).
        seen: set[tuple[str, object]] = set()
        for c in self.choices:
            key = (_family(c), c)
            if key in seen:
                raise SearchSpaceError(
                    f"choice {c!r} is listed twice in {_shorten(self.choices)}: list each "
                    "choice once"
                )
            seen.add(key)

    @property
    def n_levels(self) -> int:
        return len(self.choices)

    @property
    def is_discrete(self) -> bool:
        return True

    def index(self, value: object) -> int:
        """Position of `value` in `choices`; raises ValidationError if it is not a choice."""
        for i, c in enumerate(self.choices):
            if _same_choice(c, value):
                return i
        raise ValidationError(f"{value!r} is not one of the choices {list(self.choices)}")

    def check(self, value: object) -> str | int | float | bool:
        return self.choices[self.index(value)]

    def to_unit(self, value: str | int | float | bool) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> str | int | float | bool:
        return self.choices[int(self.index_array(np.array([u], dtype=np.float64))[0])]

    def index_array(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Unit coordinates -> choice indices (vectorized)."""
        n = len(self.choices)
        return np.minimum(np.floor(np.clip(u, 0.0, 1.0) * n), n - 1).astype(np.int64)

    def snap_unit(self, u: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray((self.index_array(u) + 0.5) / len(self.choices), dtype=np.float64)

    def grid_values(self, cap: int = 100_000) -> tuple[str | int | float | bool, ...]:
        return self.choices

    def grid_size(self) -> int:
        return len(self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "choices": list(self.choices)}
