"""Every table the CLI prints, rendered one way: on a terminal a rich table whose key columns
(rank, trial, objective...) are never cut, whatever the width, while the other columns wrap
or fold into one `params` column; piped or redirected, plain TSV with full values (a header
line, then one line per row); `--json`, the records as the API returned them.

    sheet = Sheet(title="studies", columns=[Column("id", key=True), Column("name")])
    sheet.add("3", "mlp-mnist1d")
    emit(sheet, as_json=False, records=studies)

`Column(..., param=True)` marks the columns that may fold into one `name=value` column when
the wide table does not fit the terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

Justify = Literal["left", "right"]
FC = TypeVar("FC", bound=Callable[..., Any] | click.Command)


@dataclass(frozen=True)
class Column:
    name: str
    justify: Justify = "left"
    # A key column is never wrapped nor truncated: it is what the table is read for.
    key: bool = False
    # A parameter column may be folded into a single "params" column on a narrow terminal.
    param: bool = False


@dataclass
class Sheet:
    """A table's title, columns and rows of already-formatted cells."""

    title: str
    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    simple_box: bool = False

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))


def is_terminal() -> bool:
    """stdout is a terminal (tables), else a pipe or file (TSV)."""
    return sys.stdout.isatty()


def tsv(sheet: Sheet) -> str:
    """The header line and one line per row, tab-separated, with full values (tabs and
    newlines inside a value become spaces so that every row stays one line)."""
    lines = [[c.name for c in sheet.columns], *sheet.rows]
    return "".join("\t".join(_one_line(cell) for cell in line) + "\n" for line in lines)


def rich_table(sheet: Sheet, console: Console) -> Table:
    """The wide table when it fits the console, else the one with the parameter columns
    folded into one wrapping `params` column; key columns keep their full width either way."""
    wide = _table(sheet, fold_params=False)
    if not any(c.param for c in sheet.columns):
        return wide
    # Measured without the console's limit: what the table needs to show every cell whole.
    width = Measurement.get(console, console.options.update_width(100_000), wide).maximum
    return wide if width <= console.width else _table(sheet, fold_params=True)


def emit(
    sheet: Sheet,
    *,
    as_json: bool = False,
    records: Any = None,
    console: Console | None = None,
    tsv_title: bool = False,
) -> None:
    """Print the sheet: JSON records with `as_json`, TSV when stdout is not a terminal
    (after the title on a line of its own with `tsv_title`: for reports such as `hpo
    compare`'s, whose title says what was compared), else a rich table."""
    if as_json:
        click.echo(json.dumps(records, indent=2, default=str))
    elif not is_terminal():
        if tsv_title:
            click.echo(sheet.title)
        click.echo(tsv(sheet), nl=False)
    else:
        out = console or Console()
        out.print(rich_table(sheet, out))


def json_option(
    help_text: str = "Print the records as JSON instead of a table.",
) -> Callable[[FC], FC]:
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def _table(sheet: Sheet, *, fold_params: bool) -> Table:
    kept = [(i, c) for i, c in enumerate(sheet.columns) if not (fold_params and c.param)]
    folded = [(i, c) for i, c in enumerate(sheet.columns) if fold_params and c.param]
    # min_width: a table narrower than its title would wrap the title into a column.
    table = Table(
        title=sheet.title,
        box=box.SIMPLE_HEAD if sheet.simple_box else box.HEAVY_HEAD,
        min_width=min(len(sheet.title), 200),
    )
    for i, column in kept:
        if column.key:
            widest = max([len(column.name), *(len(row[i]) for row in sheet.rows)])
            table.add_column(column.name, justify=column.justify, no_wrap=True, min_width=widest)
        else:
            table.add_column(column.name, justify=column.justify, overflow="fold")
    if folded:
        table.add_column("params", overflow="fold")
    for row in sheet.rows:
        cells = [row[i] for i, _ in kept]
        if folded:
            cells.append(" ".join(f"{c.name}={row[i]}" for i, c in folded))
        table.add_row(*cells)
    return table


def _one_line(cell: str) -> str:
    return cell.replace("\t", " ").replace("\r", " ").replace("\n", " ")
