"""`flask --app app patients import` and `seed-demo`: loading patients."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from blueprints.command_line import command_line_actor, fail, practice_or_fail
from blueprints.extensions import db
from models import utcnow
from services.patients.demo_data import seed_demo
from services.patients.patient_import import ImportFileError, import_patients_file

patients_cli = AppGroup("patients", help="Load patients.")


@patients_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--practice", "practice_name", required=True, help="The practice's name.")
def patients_import(csv_file: str, practice_name: str) -> None:
    """Upsert patients from a CSV file keyed by chart_number (safe to run twice)."""
    actor = command_line_actor(practice_or_fail(practice_name).id)
    try:
        report = import_patients_file(db.session, actor, csv_file)
    except ImportFileError as error:
        fail(str(error))
    click.echo(f"created: {report.created}")
    click.echo(f"updated: {report.updated}")
    click.echo(f"unchanged: {report.unchanged}")
    click.echo(f"rejected: {len(report.rejected)}")
    for rejected in report.rejected:
        click.echo(f"  line {rejected.line}: {rejected.reason}")


@click.command("seed-demo")
@with_appcontext  # AppGroup commands get this by default; a plain click command needs it
def seed_demo_command() -> None:
    """Create the demo practice, its staff login and a few hundred patients (once)."""
    login = seed_demo(db.session, utcnow().date())
    click.echo(("Seeded" if login.created else "Demo data already present:") + f" practice {login.practice!r}.")
    click.echo(f"Demo staff login: username {login.username} / password {login.password}"
               " (a practice admin: Patient Administration, Practice Settings and the Outbox)")


COMMANDS = (patients_cli, seed_demo_command)
