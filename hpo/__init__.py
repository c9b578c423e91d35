"""hpo: a self-hosted hyperparameter-optimization service.

The public front: `hpo.optimize(objective, space, sampler="lipo", ...)` runs a local,
serverless optimization loop over the same samplers the service uses.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Imported eagerly (numpy, ~0.25 s): a lazy re-export of a function named like its own
# submodule is shadowed by the module as soon as anything imports `hpo.optimize`.
from hpo.optimize import OptimizeResult, optimize

__all__ = ["OptimizeResult", "__version__", "optimize"]
