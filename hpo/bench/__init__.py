"""The sampler benchmark: analytic test functions with known optima (`functions`), the
harness that runs every sampler on them through `hpo.optimize` (`harness`, `runners`), the
best-so-far plots (`plots`) and the ask/tell latency benchmark (`latency`).

Run it with `hpo bench`; figures land in `bench/RESULTS.md` with the command that made them.
"""
