"""Warm starts on real databases: `warm_start: {from_studies: [...]}` seeds the new study's
sampler with the earlier studies' completed trials that fit its space (what the sampler is
told on its first ask, for every built-in sampler kind), outside its budget; unknown ids and
the other direction are refused with a 4xx naming them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.errors import ValidationError
from hpo.samplers import Observation, Sampler, SamplerRegistry, default_registry
from hpo.service import Service
from hpo.settings import Settings
from hpo.space import Params, SearchSpace
from hpo.storage import Database
from tests.integration.interop_studies import SPACE, run_study, study_spec

pytestmark = pytest.mark.integration


class Recording:
    """A built-in sampler, and every history it was told (the feed tells a sampler that is
    not incremental its whole history before each ask)."""

    def __init__(self, inner: Sampler, log: list[list[Observation]]) -> None:
        self.inner, self.log = inner, log

    def tell(self, completed: Sequence[Observation], pending: Sequence[Params] = ()) -> None:
        self.log.append(list(completed))
        self.inner.tell(completed, pending)

    def ask(self, n: int = 1) -> list[Params]:
        return self.inner.ask(n)


def recording_registry(name: str, log: list[list[Observation]]) -> SamplerRegistry:
    builtin = default_registry()

    def factory(
        space: SearchSpace,
        *,
        direction: Any = "minimize",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
    ) -> Sampler:
        inner = builtin.create(name, space, direction=direction, seed=seed, options=options)
        return Recording(inner, log)

    return builtin.with_sampler(name, factory)


@pytest.mark.parametrize("sampler", ["tpe", "lipo", "cmaes", "random"])
def test_the_sampler_is_told_the_warm_start_history(db: Database, sampler: str) -> None:
    log: list[list[Observation]] = []
    service = Service(db, registry=recording_registry(sampler, log), prepare_suggestions=False)
    source = run_study(service)
    completed = [
        t for t in service.studies.trials(source, limit=100)[0] if str(t.state) == "completed"
    ]
    # The new space leaves out the trials with width above 40: they do not fit it.
    narrower = {**SPACE, "width": {"type": "int", "low": 8, "high": 40}}
    fitting = [t for t in completed if t.params["width"] <= 40]
    assert 0 < len(fitting) < len(completed)
    spec = study_spec(
        name="warm",
        sampler=sampler,
        space=narrower,
        budget={"n_trials": 2, "max_parallel": 1},
        warm_start={"from_studies": [source]},
    )
    created = service.studies.create(spec)
    assert created.imported_trials == len(fitting)
    assert created.counts["completed"] == len(fitting)
    assert "warm_start" not in created.spec

    log.clear()
    lease = service.dispatch.claim("w")
    assert lease is not None and lease.study_id == created.id
    assert [(o.params, o.value) for o in log[-1]] == [(t.params, t.value) for t in fitting]
    service.dispatch.complete(lease.trial_id, lease.lease_token, 0.1)
    lease = service.dispatch.claim("w")
    assert lease is not None  # the budget's second trial: imported trials used none of it
    assert len(log[-1]) == len(fitting) + 1
    service.dispatch.complete(lease.trial_id, lease.lease_token, 0.2)
    assert service.dispatch.claim("w") is None
    assert service.studies.get(created.id).state == "completed"


def test_unknown_or_opposite_sources_are_refused(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    source = run_study(service)
    with pytest.raises(ValidationError, match="there is no study 999"):
        service.studies.create(study_spec(warm_start={"from_studies": [source, 999]}))
    minimizing = study_spec(
        task={"model": "mlp", "dataset": "digits", "direction": "minimize"},
        warm_start={"from_studies": [source]},
    )
    with pytest.raises(ValidationError, match=f"study {source} maximizes"):
        service.studies.create(minimizing)
    assert len(service.studies.list_studies()) == 1  # nothing was created


def test_the_api_refuses_an_unknown_source(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url))
    body = study_spec().to_dict() | {"warm_start": {"from_studies": [42]}}
    with TestClient(app) as client:
        answer = client.post("/api/v1/studies", json=body)
        assert answer.status_code == 400  # hpo's ValidationError, as for other bad bodies
        assert "there is no study 42" in answer.text
        answer = client.post("/api/v1/studies", json=body | {"warm_start": {"from_studies": []}})
        assert answer.status_code == 422 and "from_studies" in answer.text
