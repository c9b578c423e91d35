"""`hpo study create` on hostile YAML, as a user runs it (a real subprocess, its memory
capped so a regression fails fast instead of eating the machine): one line on stderr, exit 2,
no request made."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_yamlload import billion_laughs, deep

pytestmark = pytest.mark.e2e

HPO = Path(sys.executable).parent / "hpo"
MEMORY_CAP = 1 << 30  # bytes of address space; torch is not imported by `hpo study create`


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize(("name", "text"), [("laughs", billion_laughs()), ("deep", deep(50_000))])
def test_study_create_refuses_hostile_yaml_in_one_line(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    # Port 9 (discard): nothing listens; the file must be refused before any request.
    proc = subprocess.run(
        [str(HPO), "study", "create", str(path), "--api", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_cap_memory,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr[-500:]
    assert str(path) in proc.stderr and "Traceback" not in proc.stderr
