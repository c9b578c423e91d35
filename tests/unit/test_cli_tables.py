"""The CLI's shared table rendering (hpo.commands._tables), the ranking's noise verdict
(hpo.service.separability), and the sampler names `--help` lists."""

from __future__ import annotations

import pytest
from rich.console import Console

from hpo.commands._tables import Column, Sheet, rich_table, tsv
from hpo.commands.study import SAMPLER_NAMES
from hpo.samplers import BUILTIN_SAMPLERS
from hpo.service.separability import SamplerSpread, judge

pytestmark = pytest.mark.unit


def sheet() -> Sheet:
    columns = [Column("trial", "right", key=True), Column("val_accuracy", "right", key=True)]
    columns += [Column(f"parameter_{i}", param=True) for i in range(8)]
    s = Sheet(title="study 1", columns=columns)
    s.add("12", "0.912345", *[f"value-{i}\tx" for i in range(8)])
    return s


def test_tsv_keeps_every_value_whole_on_one_line() -> None:
    lines = tsv(sheet()).splitlines()
    assert lines[0].split("\t")[:3] == ["trial", "val_accuracy", "parameter_0"]
    assert lines[1].split("\t")[:3] == ["12", "0.912345", "value-0 x"]


def test_a_narrow_terminal_folds_the_params_and_keeps_the_key_columns() -> None:
    console = Console(width=60, record=True, force_terminal=False)
    console.print(rich_table(sheet(), console))
    text = console.export_text()
    assert "val_accuracy" in text and "0.912345" in text and "…" not in text
    assert "params" in text
    wide = Console(width=400, record=True, force_terminal=False)
    wide.print(rich_table(sheet(), wide))
    assert "parameter_7" in wide.export_text() and "params" not in wide.export_text()


def test_help_lists_every_builtin_sampler() -> None:
    assert SAMPLER_NAMES.split(", ") == list(BUILTIN_SAMPLERS)


def spread(name: str, rank: int, q25: float | None, q75: float | None, n: int = 3) -> SamplerSpread:
    return SamplerSpread(name, rank, q25, q75, n)


def test_overlapping_quartiles_are_within_noise() -> None:
    verdict = judge([spread("tpe", 1, 0.64, 0.66), spread("lipo", 2, 0.63, 0.645),
                     spread("random", 3, 0.62, 0.641), spread("grid", 4, 0.60, 0.63)])  # fmt: skip
    assert verdict.within_noise == ["tpe", "lipo", "random"]
    assert verdict.verdict == "tpe, lipo, random: within noise at 3 seeds"


def test_no_values_no_verdict_and_a_clear_leader() -> None:
    assert judge([spread("tpe", 1, None, None, 0)]).verdict is None
    clear = judge([spread("tpe", 1, 0.7, 0.8), spread("grid", 2, 0.5, 0.6)])
    assert clear.within_noise == ["tpe"] and clear.verdict is not None
    assert clear.verdict.startswith("tpe leads beyond the noise at 3 seeds")
