"""Our LIPO global optimizer: MaxLIPO with trust-region steps, in numpy.

The maths lives in private modules (`_bound`: the Lipschitz upper bound and its quadratic
program; `_quadratic`: the local model and trust-region subproblem; `_search`: the choice of
the next point); `LipoSampler` adapts it to the sampler protocol.
"""

from __future__ import annotations

from hpo.samplers.lipo._sampler import LipoSampler

__all__ = ["LipoSampler"]
