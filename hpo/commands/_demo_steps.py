"""What `hpo demo` prints last: commands that work as printed, whether the demo still serves
or has stopped (--exit), with the `hpo` of the environment the demo ran in (the venv's path
when it is not on PATH) and how to reopen the demo's database."""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def hpo_command() -> str:
    """`hpo` when that is the one on PATH, else the path of this environment's `hpo`
    (relative to the working directory when inside it: `.venv/bin/hpo`)."""
    here = Path(sys.executable).parent / "hpo"
    on_path = shutil.which("hpo")
    if on_path is not None and Path(on_path).resolve() == here.resolve():
        return "hpo"
    if not here.exists():
        return f"{shlex.quote(sys.executable)} -m hpo.cli"
    try:
        return shlex.quote(str(here.absolute().relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(here))


@dataclass(frozen=True)
class NextSteps:
    url: str
    port: int
    data_dir: Path
    view: dict[str, Any]

    def closing(self, *, serving: bool) -> str:
        hpo = hpo_command()
        comparison = f"{self.url}/comparisons/{self.view['id']}"
        lines: list[str] = []
        if serving:
            lines.append(f"next steps, while the demo serves (web page: {comparison}):")
        else:
            database = f"sqlite:///{(self.data_dir / 'hpo.db').as_posix()}"
            lines += [
                f"next steps: the server has stopped; the results stay in {self.data_dir}/.",
                "  reopen them (leave it running; then the commands below work):",
                f"    {hpo} serve --database-url {shlex.quote(database)} --port {self.port}",
                f"  and its web page: {comparison}",
            ]
        winner = self._winner()
        if winner is not None:
            lines += [
                f"  retrain the winner ({winner['sampler']}'s best seed, study {winner['id']}: "
                "the best-ranked sampler's, which need not hold the leaderboard's first "
                "trial):",
                f"    {hpo} best {winner['id']} --api {self.url} > best.yaml && "
                f"{hpo} train best.yaml --final",
            ]
        lines += [
            "  the test metric of every sampler's winner:",
            f"    {hpo} compare --id {self.view['id']} --api {self.url} --final",
        ]
        if hpo != "hpo":
            lines.append(f"  (or `source {_venv_of(hpo)}/bin/activate` and type plain `hpo`)")
        return "\n".join(lines)

    def _winner(self) -> dict[str, Any] | None:
        """The best seed's study of the ranking's first sampler."""
        results = self.view["results"]
        if not results:
            return None
        sampler = results[0]["sampler"]
        studies = [s for s in self.view["studies"] if s["sampler"] == sampler and s["best_value"]]
        if not studies:
            return None
        maximize = self.view["direction"] == "maximize"
        best: dict[str, Any] = (max if maximize else min)(studies, key=lambda s: s["best_value"])
        return best


def _venv_of(hpo: str) -> str:
    """`.venv` for `.venv/bin/hpo`."""
    return str(Path(shlex.split(hpo)[0]).parent.parent)
