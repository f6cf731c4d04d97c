"""`flask --app app outbox send` and `carriers`: delivering welcome messages, and the carrier table
texts go through."""

from __future__ import annotations

import logging
import time
from datetime import date

import click
from flask.cli import AppGroup

from blueprints.access import clock
from blueprints.command_line import fail
from blueprints.configured import couriers as configured_couriers
from blueprints.configured import message_cipher
from blueprints.extensions import db
from services.delivery.carriers import list_carriers, set_carrier
from services.delivery.outbox import send_due_messages
from services.identity.password_resets import send_due_resets

carriers_cli = AppGroup("carriers", help="The cell carrier table (email-to-SMS gateways).")
outbox_cli = AppGroup("outbox", help="Deliver queued welcome messages and password reset links.")
COMMANDS = (carriers_cli, outbox_cli)


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
        fail("--gateway takes a domain such as vtext.com")
    try:
        ended_on = date.fromisoformat(ended) if ended else None
    except ValueError:
        fail("--ended takes a date as YYYY-MM-DD")
    carrier = set_carrier(db.session, name, gateway, ended_on)
    db.session.commit()
    click.echo(f"{carrier.name}: {carrier.gateway}" + (f", ended {carrier.ended_on}" if carrier.ended_on else ""))


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep going: a pass every --interval seconds until interrupted.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.1), help="Seconds between passes with --loop.")
def outbox_send(loop: bool, interval: float) -> None:
    """Send queued welcome messages that are due, with retries (one pass, or --loop).

    On PostgreSQL several workers may run at once; on SQLite run one."""
    now = clock()  # the app's clock, which tests move past a message's next try
    cipher, couriers = message_cipher(), configured_couriers()
    try:
        while True:
            try:
                report = send_due_messages(db.session, couriers, cipher, now())
                resets_sent, resets_failed = send_due_resets(db.session, couriers.mail, cipher, now())
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
            if resets_sent or resets_failed:
                click.echo(f"password reset links sent: {resets_sent}\npassword reset links not sent: {resets_failed}")
            if not loop:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        db.session.rollback()
        click.echo("Stopped.")
