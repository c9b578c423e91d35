"""A study whose sampler fails at claim time is paused with the reason, and never fails other
studies' claims (issue 11: 3, the claim-time half), on SQLite and PostgreSQL.

The failing samplers are registered in the test's registry under a built-in name ("qmc"), so
the study is created as any qmc study is (whatever creation-time checks of options exist) and
fails only when the claim builds or asks its sampler.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hpo.errors import ConflictError
from hpo.samplers import Sampler, default_registry
from hpo.samplers._random import RandomSampler
from hpo.service import Lease, Service
from hpo.space import Params
from hpo.spec import parse_study_spec
from hpo.storage import Database
from tests.integration.conftest import run_together

pytestmark = pytest.mark.integration

METRIC = "hpo_sampler_failures_total"


class AskRaises(RandomSampler):
    def _ask(self, n: int, rng: np.random.Generator) -> list[Params]:
        raise RuntimeError("int() argument must be a number, not 'NoneType'")


def build_raises(*_args: Any, **_kwargs: Any) -> Sampler:
    raise ValueError("n_startup_trials must be an integer, got 'ten'")


FAILURES = {"at ask": (AskRaises, "int() argument"), "at build": (build_raises, "'ten'")}


def spec(name: str, sampler: str, n_trials: int = 30) -> Any:
    return parse_study_spec(
        {
            "name": name,
            "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
            "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
            "sampler": sampler,
            "budget": {"n_trials": n_trials, "max_parallel": n_trials},
        }
    )


@pytest.mark.parametrize("when", FAILURES)
def test_a_failing_sampler_pauses_its_study_and_claims_go_on(db: Database, when: str) -> None:
    factory, needle = FAILURES[when]
    service = Service(
        db, prepare_suggestions=False, registry=default_registry().with_sampler("qmc", factory)
    )
    broken = service.studies.create(spec("broken", "qmc"))  # first: the claims try it first
    healthy = service.studies.create(spec("healthy", "random"))

    for _ in range(6):
        lease = service.dispatch.claim("w", host="h", devices=("cpu",))
        assert lease is not None and lease.study_id == healthy.id
    view = service.studies.get(broken.id)
    assert view.state == "paused"
    assert view.paused_reason is not None and needle in view.paused_reason
    assert "resume" in view.paused_reason  # says what to do
    assert service.metrics.counter(METRIC) == 1
    assert f"{METRIC} 1" in service.metrics.render()

    # Ask/tell on it says why, and resuming tries the sampler again (and pauses it again).
    with pytest.raises(ConflictError, match="paused"):
        service.dispatch.ask(broken.id)
    service.studies.update(broken.id, action="resume")
    with pytest.raises(ConflictError, match="paused by the service"):
        service.dispatch.ask(broken.id)
    assert service.studies.get(broken.id).state == "paused"  # the pause outlived the 409
    assert service.metrics.counter(METRIC) == 2
    assert service.dispatch.claim("w") is not None


def test_concurrent_claims_never_see_a_broken_studys_failure(fresh_db: Database) -> None:
    """Claims served in batches: the batch that meets the broken study pauses it and serves
    every member from the healthy one."""
    service = Service(fresh_db, registry=default_registry().with_sampler("qmc", AskRaises))
    broken = [service.studies.create(spec(f"broken-{i}", "qmc")) for i in range(3)]
    healthy = service.studies.create(spec("healthy", "random", n_trials=100))
    results = run_together(12, lambda i: service.dispatch.claim(f"w{i}"))
    for result in results:
        assert not isinstance(result, Exception), result
        assert isinstance(result, Lease) and result.study_id == healthy.id
    for study in broken:
        assert service.studies.get(study.id).state == "paused"
