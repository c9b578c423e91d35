"""Pool names as `hpo deploy` checks them before printing anything.

The rule is the worker's (`hpo worker --pool`): lower-case letters, digits, `.`, `_`, `-`,
at most 63, starting and ending with a letter or digit, because a pool travels as a
Kubernetes label value, a Slurm job name and a Prometheus label value. Checked here too so a
bad name is one line at generation time, not a crash-looping pod on the cluster.
"""

from __future__ import annotations

import re

from hpo.errors import ValidationError

DEFAULT_POOL = "default"

_POOL_NAME = re.compile(r"[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?")


def check_pool(name: str) -> str:
    if not _POOL_NAME.fullmatch(name):
        raise ValidationError(
            f"--pool {name[:80]!r} is not a pool name: use 1 to 63 lower-case letters, "
            "digits, '.', '_' or '-', starting and ending with a letter or digit (e.g. a100)"
        )
    return name


def object_suffix(pool: str) -> str:
    """The pool as part of a Kubernetes object name (DNS-1123 labels have no `.` or `_`)."""
    return re.sub(r"[._]", "-", pool)
