"""Worker pools: the name a worker serves (`hpo worker --pool a100`) and a study asks for
(`resources: {pool: a100}`). A claim serves only the studies whose pool the worker is in, so
work routes by pool while placement stays with the cluster's scheduler (one Deployment or
Slurm array per pool).

Names are short and plain (lower-case letters, digits, `.`, `_`, `-`), because they travel
as Kubernetes label values, Slurm job names and Prometheus label values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hpo.errors import ValidationError

DEFAULT_POOL = "default"

# Pools one worker may serve: more is not a worker, and each costs a bound parameter per claim.
MAX_POOLS_PER_WORKER = 16

POOL_NAME_MAX = 63  # a Kubernetes label value
_POOL_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")


def check_pool_name(name: str, *, field: str = "pool") -> str:
    """`name` if it is a valid pool name, else `ValidationError` saying what is allowed."""
    if not isinstance(name, str) or not _POOL_NAME.fullmatch(name):
        raise ValidationError(
            f"{field} {str(name)[:80]!r} is not a pool name: use 1 to {POOL_NAME_MAX} "
            "lower-case letters, digits, '.', '_' or '-', starting and ending with a letter "
            "or digit (e.g. a100, cpu-large)"
        )
    return name


def check_pools(pools: Iterable[str], *, field: str = "pools") -> tuple[str, ...]:
    """The pools a worker serves, checked, duplicates dropped, in the order given;
    `(DEFAULT_POOL,)` when none is given."""
    checked: list[str] = []
    for name in pools:
        check_pool_name(name, field=field)
        if name not in checked:
            checked.append(name)
    if len(checked) > MAX_POOLS_PER_WORKER:
        raise ValidationError(
            f"{field} lists {len(checked)} pools: at most {MAX_POOLS_PER_WORKER} per worker"
        )
    return tuple(checked) or (DEFAULT_POOL,)
