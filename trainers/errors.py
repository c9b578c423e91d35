"""The one error trainers raise on purpose: a configuration that cannot be trained.

Runtime failures of a valid configuration (NaN loss, out of memory) are not errors: `train()`
returns them as a classified result so a search can record them and move on.
"""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """A model, training or dataset configuration is invalid. The message lists what is valid."""


def check_choice(field: str, value: object, valid: Iterable[str]) -> str:
    """Return `value` if it is one of `valid`, else raise a ConfigError that lists them."""
    options = tuple(valid)
    if not isinstance(value, str) or value not in options:
        raise ConfigError(f"unknown {field} {value!r}; valid: {', '.join(options)}")
    return value


def check_int(field: str, value: object, *, minimum: int) -> int:
    """Return `value` as an int >= minimum. Integral floats (64.0, from a sampler) are accepted."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{field} must be an integer >= {minimum}, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{field} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ConfigError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_float(
    field: str,
    value: object,
    *,
    low: float,
    high: float = float("inf"),
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return `value` as a float in the interval; numeric strings are accepted because YAML 1.1
    reads `1e-3` (no dot) as a string."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{field} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{field} must be a number, got {value!r}")
    number = float(value)
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if below or above or number != number:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ConfigError(f"{field} must be in {left}{low}, {high}{right}, got {value!r}")
    return number


def check_fraction(field: str, value: object) -> float:
    """A float in [0, 1): dropout, momentum, label smoothing, a split's share."""
    return check_float(field, value, low=0.0, high=1.0, high_open=True)


def normalize(config: object, **values: object) -> None:
    """Store validated values (an int from 64.0, a float from "1e-3") on a frozen dataclass."""
    for name, value in values.items():
        object.__setattr__(config, name, value)
