"""Settings come from HPO_* variables or arguments, with defaults that need no set-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hpo.settings import Settings

pytestmark = pytest.mark.unit


def test_defaults_put_an_sqlite_database_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HPO_DATA_DIR", "HPO_DATABASE_URL", "HPO_API_TOKEN", "HPO_WORKER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings()
    assert settings.data_dir == tmp_path / "hpo"
    assert settings.database_url == f"sqlite:///{tmp_path / 'hpo' / 'hpo.db'}"
    assert (settings.host, settings.port, settings.auth_enabled) == ("127.0.0.1", 8000, False)
    assert not (tmp_path / "hpo").exists()  # constructing settings does no I/O


def test_environment_and_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HPO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HPO_API_TOKEN", "s3cret")
    monkeypatch.setenv("HPO_LEASE_SECONDS", "30")
    monkeypatch.delenv("HPO_DATABASE_URL", raising=False)
    settings = Settings(port=9000)
    assert settings.database_url == f"sqlite:///{tmp_path / 'hpo.db'}"
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert (settings.lease_seconds, settings.port, settings.auth_enabled) == (30.0, 9000, True)
    explicit = Settings(database_url="postgresql://u@h/db")
    assert explicit.database_url == "postgresql://u@h/db"


@pytest.mark.parametrize("field", ["port", "lease_seconds", "max_request_bytes"])
def test_out_of_range_values_are_refused(field: str) -> None:
    values: dict[str, Any] = {field: 0}
    with pytest.raises(ValidationError):
        Settings(**values)


@pytest.mark.parametrize(
    ("env", "reads_need_a_token"),
    [
        ({}, False),  # no token: the loopback default, everything open as before
        ({"HPO_WORKER_TOKEN": "w"}, False),  # no token that can read: reads stay open
        ({"HPO_API_TOKEN": "a"}, True),
        ({"HPO_READ_TOKEN": "r"}, True),
        ({"HPO_READ_TOKEN": ""}, False),  # compose's `${HPO_READ_TOKEN:-}` when unset
        ({"HPO_API_TOKEN": "a", "HPO_READ_TOKEN": "r", "HPO_PUBLIC_READ": "1"}, False),
    ],
)
def test_when_reads_need_a_token(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], reads_need_a_token: bool
) -> None:
    for name in ("HPO_API_TOKEN", "HPO_WORKER_TOKEN", "HPO_READ_TOKEN", "HPO_PUBLIC_READ"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.reads_need_a_token is reads_need_a_token
