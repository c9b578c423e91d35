"""`hpo export`, `hpo import`, `hpo db copy` as a user runs them (real subprocesses on SQLite
files): the JSON round trip through stdout and a file, Optuna out and back in, a database
copy; and each refusal as one line on stderr with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hpo.service import Service
from hpo.storage import Database, create_engine_for, migrate
from tests.integration.interop_studies import run_study

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HPO = Path(sys.executable).parent / "hpo"


def _hpo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HPO), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _ok(*args: str) -> str:
    proc = _hpo(*args)
    assert proc.returncode == 0, proc.stderr[-1000:]
    return proc.stdout


def _refused(*args: str, says: str) -> None:
    proc = _hpo(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert says in proc.stderr, proc.stderr


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    migrate(url)
    db = Database(create_engine_for(url))
    try:
        run_study(Service(db, prepare_suggestions=False))
    finally:
        db.dispose()
    return url


def test_export_import_and_copy_from_the_command_line(database: str, tmp_path: Path) -> None:
    on = ("--database-url", database)
    document = json.loads(_ok("export", "json", "interop", *on))
    assert document["schema_version"] == 2 and len(document["trials"]) == 12
    path = tmp_path / "study.json"
    path.write_text(json.dumps(document))
    assert "study 2: 12 trials imported" in _ok("import", "json", str(path), *on)

    optuna_url = f"sqlite:///{tmp_path / 'optuna.db'}"
    assert "12 trials" in _ok("export", "optuna", "1", "--storage", optuna_url, *on)
    out = _ok(
        "import", "optuna", "--storage", optuna_url, "--study-name", "interop", "--into", "2", *on
    )
    assert "study 2: 12 trials imported" in out

    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert "copied 2 studies" in _ok("db", "copy", "--from", database, "--to", copy)

    # Refusals: one line each, exit 2.
    path.write_text(json.dumps({**document, "schema_version": 99}))
    _refused("import", "json", str(path), *on, says="schema_version 99 is newer")
    _refused(
        "import",
        "optuna",
        "--storage",
        optuna_url,
        "--study-name",
        "interop",
        *on,
        says="give one of --into STUDY or --create SPEC",
    )
    _refused("db", "copy", "--from", database, "--to", copy, says="pass --append")
