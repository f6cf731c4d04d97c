"""`flask --app app practice create` and `staff create`: what the practice's IT person sets up."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from blueprints.command_line import command_line_actor, fail, practice_or_fail
from blueprints.extensions import db
from services.identity.staff import (
    PASSWORD_HASH_METHOD,
    StaffError,
    add_staff_from_command_line,
    create_practice_from_command_line,
    find_staff_by_username,
)

practice_cli = AppGroup("practice", help="Create practices.")
staff_cli = AppGroup("staff", help="Create staff logins.")
COMMANDS = (practice_cli, staff_cli)


@practice_cli.command("create")
@click.argument("name")
@click.option("--portal-url", default=None, help="Where welcome messages link to (default: PORTAL_URL).")
@click.option("--timezone", default="America/New_York", show_default=True, help="IANA time zone.")
def practice_create(name: str, portal_url: str | None, timezone: str) -> None:
    """Create a practice."""
    try:
        practice = create_practice_from_command_line(db.session, command_line_actor(None), name, portal_url, timezone)
    except StaffError as error:
        fail(str(error))
    click.echo(f"Created practice {practice.name!r} (time zone {practice.timezone}; its links name it ?practice={practice.slug}).")


@staff_cli.command("create")
@click.argument("username")
@click.option("--practice", "practice_name", required=True, help="The practice's name.")
@click.option("--admin", is_flag=True, help="Make a practice admin.")
@click.option("--password", default=None, help="The password (prompted for when omitted).")
def staff_create(username: str, practice_name: str, admin: bool, password: str | None) -> None:
    """Create a staff login, or add an existing one to another practice."""
    practice = practice_or_fail(practice_name)
    if password is None and find_staff_by_username(db.session, username) is None:
        # An existing login added to another practice keeps its password (no prompt).
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        add_staff_from_command_line(db.session, command_line_actor(practice.id), username, password or "", admin,
                                    current_app.config.get("HASH_METHOD") or PASSWORD_HASH_METHOD)
    except StaffError as error:
        fail(str(error))
    role = "practice admin" if admin else "staff"
    click.echo(f"Staff {username!r} can sign in to {practice_name!r} as {role}.")
