"""hpo: a self-hosted hyperparameter-optimization service.

The public front: `hpo.optimize` runs a local, serverless optimization loop over the same
samplers the service uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hpo.optimize import OptimizeResult, optimize

__all__ = ["OptimizeResult", "__version__", "optimize"]


def __getattr__(name: str) -> Any:
    # Lazy: `import hpo` stays cheap (no numpy/optuna) for the CLI and the worker.
    if name in ("optimize", "OptimizeResult"):
        from hpo import optimize as _optimize_module

        return getattr(_optimize_module, name)
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")
