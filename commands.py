"""The command line, all under `flask --app app` (README: Command line). Each command that changes
state acts as the command line's Actor, so its rows and its audit rows commit together."""

from __future__ import annotations

import logging
import sys
import time
from datetime import date

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from extensions import db
from models import utcnow
from services.carriers import list_carriers, set_carrier
from services.demo_data import seed_demo
from services.mail_delivery import mailer_for
from services.message_cipher import MessageCipher
from services.outbox import send_due_messages
from services.actor import Actor
from services.patient_import import ImportFileError, import_patients_file
from services.staff import (
    PASSWORD_HASH_METHOD,
    StaffError,
    add_staff_from_command_line,
    create_practice_from_command_line,
    find_practice_by_name,
    find_staff_by_username,
)

practice_cli = AppGroup("practice", help="Create practices.")
staff_cli = AppGroup("staff", help="Create staff logins.")
patients_cli = AppGroup("patients", help="Load patients.")
carriers_cli = AppGroup("carriers", help="The cell carrier table (email-to-SMS gateways).")
outbox_cli = AppGroup("outbox", help="Deliver queued welcome messages.")


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _actor(practice_id: int | None) -> Actor:
    return Actor.for_command_line(practice_id, clock=current_app.config.get("CLOCK") or utcnow)


def _practice_or_fail(name: str):
    practice = find_practice_by_name(db.session, name)
    if practice is None:
        _fail(f"No practice named {name!r}. Create it with: flask --app app practice create {name!r}")
    return practice


@practice_cli.command("create")
@click.argument("name")
@click.option("--portal-url", default=None, help="Where welcome messages link to (default: PORTAL_URL).")
@click.option("--timezone", default="America/New_York", show_default=True, help="IANA time zone.")
def practice_create(name: str, portal_url: str | None, timezone: str) -> None:
    """Create a practice."""
    try:
        practice = create_practice_from_command_line(db.session, _actor(None), name, portal_url, timezone)
    except StaffError as error:
        _fail(str(error))
    click.echo(f"Created practice {practice.name!r} (time zone {practice.timezone}).")


@staff_cli.command("create")
@click.argument("username")
@click.option("--practice", "practice_name", required=True, help="The practice's name.")
@click.option("--admin", is_flag=True, help="Make a practice admin.")
@click.option("--password", default=None, help="The password (prompted for when omitted).")
def staff_create(username: str, practice_name: str, admin: bool, password: str | None) -> None:
    """Create a staff login, or add an existing one to another practice."""
    practice = _practice_or_fail(practice_name)
    if password is None and find_staff_by_username(db.session, username) is None:
        # An existing login added to another practice keeps its password (no prompt).
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        add_staff_from_command_line(db.session, _actor(practice.id), username, password or "", admin,
                                    current_app.config.get("HASH_METHOD") or PASSWORD_HASH_METHOD)
    except StaffError as error:
        _fail(str(error))
    role = "practice admin" if admin else "staff"
    click.echo(f"Staff {username!r} can sign in to {practice_name!r} as {role}.")


@patients_cli.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--practice", "practice_name", required=True, help="The practice's name.")
def patients_import(csv_file: str, practice_name: str) -> None:
    """Upsert patients from a CSV file keyed by chart_number (safe to run twice)."""
    actor = _actor(_practice_or_fail(practice_name).id)
    try:
        report = import_patients_file(db.session, actor, csv_file)
    except ImportFileError as error:
        _fail(str(error))
    click.echo(f"created: {report.created}")
    click.echo(f"updated: {report.updated}")
    click.echo(f"unchanged: {report.unchanged}")
    click.echo(f"rejected: {len(report.rejected)}")
    for rejected in report.rejected:
        click.echo(f"  line {rejected.line}: {rejected.reason}")


@carriers_cli.command("list")
def carriers_list() -> None:
    """List carriers, their gateways and end dates."""
    today = date.today()
    for carrier in list_carriers(db.session):
        state = (
            f"service ended {carrier.ended_on}" if carrier.has_ended(today)
            else f"ends {carrier.ended_on}" if carrier.ended_on else "active"
        )
        click.echo(f"{carrier.name}\t{carrier.gateway}\t{state}")


@carriers_cli.command("set")
@click.argument("name")
@click.option("--gateway", required=True, help="The gateway's domain, e.g. vtext.com.")
@click.option("--ended", default=None, help="The day the gateway stopped (YYYY-MM-DD); omit if it works.")
def carriers_set(name: str, gateway: str, ended: str | None) -> None:
    """Add a carrier or change its gateway and end date."""
    gateway = gateway.strip().lower()
    if not gateway or "@" in gateway or " " in gateway or "." not in gateway:
        _fail("--gateway takes a domain such as vtext.com")
    try:
        ended_on = date.fromisoformat(ended) if ended else None
    except ValueError:
        _fail("--ended takes a date as YYYY-MM-DD")
    carrier = set_carrier(db.session, name, gateway, ended_on)
    db.session.commit()
    click.echo(f"{carrier.name}: {carrier.gateway}" + (f", ended {carrier.ended_on}" if carrier.ended_on else ""))


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep going: a pass every --interval seconds until interrupted.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds between passes with --loop.")
def outbox_send(loop: bool, interval: float) -> None:
    """Send queued welcome messages that are due, with retries (one pass, or --loop).

    On PostgreSQL several workers may run at once; on SQLite run one."""
    config = current_app.config
    # CLOCK: tests move time past a message's next try; production uses the real clock.
    clock = config.get("CLOCK") or utcnow
    cipher = MessageCipher.from_config(config)
    mailer = mailer_for(config, current_app.extensions["mail"], db.session)
    try:
        while True:
            try:
                report = send_due_messages(db.session, mailer, cipher, clock())
            except Exception:
                if not loop:
                    raise
                # A database restart or the like must not end a long-running worker.
                db.session.rollback()
                logging.getLogger(__name__).exception("outbox pass failed; trying again")
                time.sleep(interval)
                continue
            if not loop or report.sent or report.retry_later or report.failed or report.withdrawn:
                click.echo(
                    f"sent: {report.sent}\nretry later: {report.retry_later}\nfailed: {report.failed}"
                    f"\nnot sent, PIN no longer active: {report.withdrawn}"
                )
            if not loop:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        db.session.rollback()
        click.echo("Stopped.")


@click.command("seed-demo")
@with_appcontext  # AppGroup commands get this by default; a plain click command needs it
def seed_demo_command() -> None:
    """Create the demo practice, its staff login and a few hundred patients (once)."""
    login = seed_demo(db.session, utcnow().date())
    click.echo(("Seeded" if login.created else "Demo data already present:") + f" practice {login.practice!r}.")
    click.echo(f"Demo staff login: username {login.username} / password {login.password}")


def register_commands(app: Flask) -> None:
    for group in (practice_cli, staff_cli, patients_cli, carriers_cli, outbox_cli):
        app.cli.add_command(group)
    app.cli.add_command(seed_demo_command)
