"""What the command line's areas share: how a command fails, the Actor it acts as (so its rows
and its audit rows commit together), and the practice it names."""

from __future__ import annotations

import sys

import click

from blueprints.access import clock
from blueprints.extensions import db
from services.actor import Actor
from services.identity.staff import find_practice_by_name


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def command_line_actor(practice_id: int | None) -> Actor:
    return Actor.for_command_line(practice_id, clock=clock())


def practice_or_fail(name: str):
    practice = find_practice_by_name(db.session, name)
    if practice is None:
        fail(f"No practice named {name!r}. Create it with: flask --app app practice create {name!r}")
    return practice
