"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis), in
process over ASGI on a real SQLite database: every generated request, valid or not, answers
without a server error, with a status code the schema declares and a body matching it.

CI size: `HPO_FUZZ_EXAMPLES` (default 15) examples per operation, positive and negative data,
a few hundred requests in all. The larger run (thousands, against `hpo serve`) is in
bench/RESULTS.md ("Under fire").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database, create_engine_for, migrate

pytestmark = pytest.mark.integration

ADMIN = "fuzz-admin-token"
EXAMPLES = int(os.environ.get("HPO_FUZZ_EXAMPLES", "15"))
SEED_SPEC: dict[str, Any] = {
    "name": "fuzz-seed",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 1000, "max_parallel": 1000},
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A migrated database with a study and a few trials, so ids 1..3 mostly exist and the
    fuzzer reaches past the 404s into the handlers."""
    # HPO_FUZZ_DATABASE_URL: an empty database to fuzz on instead (the larger run uses one
    # on PostgreSQL); by default a fresh SQLite file.
    url = os.environ.get("HPO_FUZZ_DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hpo.db'}"
    )
    migrate(url)
    service = Service(Database(create_engine_for(url)), lease_seconds=600)
    study = service.studies.create(parse_study_spec(SEED_SPEC))
    for _ in range(3):
        lease = service.dispatch.claim("fuzz-seed")
        assert lease is not None and lease.study_id == study.id
    yield service
    service.db.dispose()


@pytest.fixture(scope="module")
def api_schema(service: Service) -> Any:
    settings_ = Settings(
        # The default body limit: a 413 is a right answer the negative-data check does not
        # expect (tests/integration/test_hostile_input.py tests it).
        database_url=str(service.db.engine.url),
        api_token=ADMIN,  # type: ignore[arg-type]
        # A generated claim may ask to be held for minutes (long-poll): the fuzz checks
        # answers, not waits (tests/e2e/test_long_poll.py does), so hold none long.
        claim_max_wait_seconds=0.2,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_, service=service))


def test_every_operation_holds_its_schema(api_schema: Any) -> None:
    """Each operation, positive then negative data; failures are collected per operation so
    one finding does not hide the others. (Driven by hand rather than through schemathesis'
    pytest plugin, whose lazy fixture loader does not work with pytest 9.)"""
    failures: dict[str, str] = {}
    calls = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def fuzz(case: Any) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"}, checks=CHECKS)

            try:
                fuzz()
            except Unsatisfiable:
                pass  # no invalid request exists for an operation without parameters
            except (Exception, BaseExceptionGroup) as e:
                failures[f"{operation.label} ({mode.value})"] = f"{type(e).__name__}: {e}"[:3000]
    print(f"\nfuzz: {calls} generated requests over the schema")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert calls >= 100


def test_the_fuzzed_database_is_consistent(service: Service) -> None:
    """After the fuzzing above, everything stored reads back: each study, and its trials
    page, whose counts agree with the study's."""
    for study in service.studies.list_studies(limit=1000):
        view = service.studies.get(study.id)
        _, total = service.studies.trials(study.id, offset=0, limit=1)
        assert total == sum(view.counts.values()), view
