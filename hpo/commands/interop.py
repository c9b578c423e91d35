"""`hpo export json|optuna`, `hpo import json|optuna`, `hpo db copy`: studies in and out of
hpo, on the database directly (`--database-url`, default $HPO_DATABASE_URL, else the embedded
SQLite database), which is migrated to the newest schema first. Works while `hpo serve` runs on
the same database: an import is one transaction, under the study's lock."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from hpo.errors import ValidationError

if TYPE_CHECKING:
    from hpo.storage import Database

database_option = click.option(
    "--database-url",
    envvar="HPO_DATABASE_URL",
    help="hpo's database (SQLAlchemy URL); default $HPO_DATABASE_URL, else the embedded one.",
)
study_argument = click.argument("study", metavar="STUDY")


@contextmanager
def _database(url: str | None) -> Iterator[Database]:
    from hpo.settings import Settings
    from hpo.storage import Database, create_engine_for, migrate

    settings = Settings(database_url=url) if url else Settings()
    engine = create_engine_for(settings.database_url)
    try:
        migrate(engine)
        yield Database(engine)
    finally:
        engine.dispose()


def _study_id(db: Database, ref: str) -> int:
    """An id, or the name of the newest study so called (as the other commands take it)."""
    from sqlalchemy import select

    from hpo.storage import Study

    text = ref.strip()
    if text.isdigit():
        return int(text)
    with db.transaction(write=False) as session:
        found = session.scalar(
            select(Study.id).where(Study.name == text).order_by(Study.id.desc()).limit(1)
        )
    if found is None:
        raise ValidationError(f"no study named {text!r}: give its id or name (hpo study list)")
    return int(found)


@click.group("export")
def export() -> None:
    """Write a study out: as JSON (stdout), or as an Optuna study."""


@export.command("json")
@study_argument
@database_option
def export_json(study: str, database_url: str | None) -> None:
    """The study, its trials and reports as JSON on stdout (`> study.json`)."""
    from hpo.interop.studies_io import export_json as run

    with _database(database_url) as db:
        document = run(db, _study_id(db, study))
    json.dump(document, sys.stdout, indent=1)
    sys.stdout.write("\n")


@export.command("optuna")
@study_argument
@click.option("--storage", required=True, help="Optuna storage URL, e.g. sqlite:///optuna.db.")
@click.option("--name", help="The Optuna study's name; default: the hpo study's.")
@database_option
def export_optuna(study: str, storage: str, name: str | None, database_url: str | None) -> None:
    """The study's finished trials as a new Optuna study (optuna-dashboard reads it)."""
    from hpo.interop.studies_io import export_optuna as run

    with _database(database_url) as db:
        written = run(db, _study_id(db, study), storage, name)
    click.echo(f"Optuna study {written.study_name!r}: {len(written.trials)} trials in {storage}")


@click.group("import")
def import_() -> None:
    """Bring a study in: a JSON file of `hpo export json`, or an Optuna study's trials."""


@import_.command("json")
@click.argument("path", type=click.Path(dir_okay=False))
@database_option
def import_json(path: str, database_url: str | None) -> None:
    """A new study from PATH (written by `hpo export json`; older format versions too)."""
    from hpo.interop.studies_io import import_json as run

    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ValidationError(f"{path} is not JSON: {e}") from e
    with _database(database_url) as db:
        done = run(db, document)
    click.echo(f"study {done.study_id}: {done.trials} trials imported from {path}")


@import_.command("optuna")
@click.option("--storage", required=True, help="Optuna storage URL, e.g. sqlite:///optuna.db.")
@click.option("--study-name", required=True, help="The Optuna study to read.")
@click.option("--into", "into", metavar="STUDY", help="Add the trials to this hpo study.")
@click.option(
    "--create",
    "create",
    metavar="SPEC",
    type=click.Path(exists=True, dir_okay=False),
    help="Make a new study from this spec file (its space: the Optuna study's, if not given).",
)
@database_option
def import_optuna(
    storage: str, study_name: str, into: str | None, create: str | None, database_url: str | None
) -> None:
    """An Optuna study's finished trials, as imported trials: history for the samplers, not
    part of the study's budget."""
    from hpo.interop.studies_io import import_optuna as run
    from hpo.space import read_mapping

    if (into is None) == (create is None):
        raise ValidationError("give one of --into STUDY or --create SPEC")
    spec = read_mapping(create) if create is not None else None
    with _database(database_url) as db:
        target = _study_id(db, into) if into is not None else None
        done = run(db, storage, study_name, into=target, create=spec)
    verb = "new study" if done.created else "study"
    click.echo(f"{verb} {done.study_id}: {done.trials} trials imported from {study_name!r}")


@click.group("db")
def db() -> None:
    """Move hpo's data between databases."""


@db.command("copy")
@click.option("--from", "source", required=True, help="Source database URL.")
@click.option("--to", "target", required=True, help="Target database URL (migrated first).")
@click.option("--study", "studies", type=int, multiple=True, help="Only this study (repeat).")
@click.option("--append", is_flag=True, help="Allow a target that already holds studies.")
def copy(source: str, target: str, studies: tuple[int, ...], append: bool) -> None:
    """Copy studies with their trials, reports and comparisons (new ids in the target),
    each verified by counts and a checksum; on any failure the target is left as it was."""
    from hpo.interop.db_copy import copy_studies
    from hpo.storage import Database, create_engine_for

    source_engine = create_engine_for(source)
    target_engine = create_engine_for(target)
    try:
        report = copy_studies(
            Database(source_engine), Database(target_engine), study_ids=studies, append=append
        )
    finally:
        source_engine.dispose()
        target_engine.dispose()
    trials = sum(c.trials for c in report.studies)
    reports = sum(c.reports for c in report.studies)
    for c in report.studies:
        click.echo(
            f"study {c.source_id} -> {c.target_id}: {c.trials} trials, checksum {c.checksum[:12]}"
        )
    click.echo(
        f"copied {len(report.studies)} studies, {len(report.comparisons)} comparisons, "
        f"{trials} trials, {reports} reports"
    )
