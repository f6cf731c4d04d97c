"""`flask --app app outbox send` and `bounce`, and `carriers`: delivering welcome messages, reading
the bounces that come back, and the carrier table texts go through."""

from __future__ import annotations

import logging
import sys
import time
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError

from blueprints.access import clock
from blueprints.command_line import fail
from blueprints.configured import couriers as configured_couriers
from blueprints.configured import message_cipher
from blueprints.extensions import db
from services.delivery.bounce_mailbox import MailboxUnusable, outcome_summary, poll_bounce_mailbox
from services.delivery.bounces import MAX_BOUNCE_BYTES, read_bounce
from services.delivery.carriers import list_carriers, set_carrier
from services.delivery.outbox import send_due_messages
from services.delivery.reports import ReportOutcome, apply_bounce
from services.identity.password_resets import send_due_resets

carriers_cli = AppGroup("carriers", help="The cell carrier table (email-to-SMS gateways).")
log = logging.getLogger(__name__)

# sysexits.h: Postfix's pipe(8) and Exim's pipe transport keep the message and try again later.
EX_TEMPFAIL = 75
# Between two readings of BOUNCE_IMAP_URL by `outbox send --loop` (every pass reads it when
# passes are further apart): a provider may throttle a mailbox that logs in every few seconds.
MAILBOX_EVERY_SECONDS = 60.0

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
    mailbox_url = current_app.config.get("BOUNCE_IMAP_URL")
    mailbox_read_at = None
    try:
        while True:
            try:
                report = send_due_messages(db.session, couriers, cipher, now())
                resets_sent, resets_failed = send_due_resets(db.session, couriers.mail, cipher, now())
                if mailbox_url and (mailbox_read_at is None or time.monotonic() - mailbox_read_at >= MAILBOX_EVERY_SECONDS):
                    mailbox_read_at = time.monotonic()
                    read_bounce_mailbox(mailbox_url, now, quiet=loop)
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


def read_bounce_mailbox(url: str, now, quiet: bool) -> None:
    """One reading of BOUNCE_IMAP_URL; a mailbox out of reach is a warning, and sending goes on."""
    try:
        mailbox = poll_bounce_mailbox(db.session, url, now)
    except MailboxUnusable as error:
        log.warning("%s; trying again on a later pass", error)
        if not quiet:
            click.echo(f"{error}", err=True)
        return
    if not quiet or mailbox.bounces:
        click.echo(outcome_summary(mailbox))


@outbox_cli.command("bounce")
def outbox_bounce() -> None:
    """Read one bounce on standard input (as Postfix's pipe(8) or Exim's pipe transport give it).

    Exit 0 when it was applied or is nothing of ours; 75 (EX_TEMPFAIL) on a database error, so the
    mail server keeps the message and tries again."""
    raw = sys.stdin.buffer.read(MAX_BOUNCE_BYTES)
    while sys.stdin.buffer.read(1024 * 1024):  # the rest unread, but taken: a writer must not hit a closed pipe
        pass
    findings = read_bounce(raw)
    outcomes: dict[str, int] = {}
    try:
        for finding in findings:
            outcome = apply_bounce(db.session, finding, clock())
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    except DBAPIError as error:
        db.session.rollback()
        # The type only: a driver's message can quote the statement's values.
        log.error("bounce not applied: database error (%s); the mail server will try again", type(error.orig).__name__)
        click.echo("bounce not applied: database error; try again later", err=True)
        sys.exit(EX_TEMPFAIL)
    if not findings:
        click.echo("bounce: nothing of ours (ignored)")
        return
    click.echo("bounce: " + ", ".join(f"{ReportOutcome(name).value} {count}" for name, count in sorted(outcomes.items())))
