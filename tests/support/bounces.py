"""Bounce messages for the tests (tests/delivery/bounces/*.eml, as real mail servers write them)
filled in with a real message's Message-ID and recipient, and `flask --app app outbox bounce` run
as the mail server's pipe runs it: a process of its own, the bounce on standard input."""

from __future__ import annotations

import subprocess
from pathlib import Path
from string import Template

from tests.support.outbox_worker import REPO, worker_command, worker_env

BOUNCES = REPO / "tests" / "delivery" / "bounces"
COMMAND_SECONDS = 60


def bounce_message(name: str, message_id: str, recipient: str, domain: str = "cedar.example") -> bytes:
    """tests/delivery/bounces/`name`.eml with the bounced message's Message-ID and recipient, with
    CRLF line ends as on the wire."""
    text = Template((BOUNCES / f"{name}.eml").read_text()).substitute(
        message_id=message_id, recipient=recipient, domain=domain
    )
    return text.replace("\n", "\r\n").encode()


def pipe_bounce(app, raw: bytes, **overrides: str) -> subprocess.CompletedProcess:
    """`outbox bounce` with `raw` on standard input, configured from the environment as a mail
    server's pipe would run it."""
    command = [*worker_command()[:-1], "bounce"]  # `… outbox send` -> `… outbox bounce`
    return subprocess.run(
        command, cwd=REPO, env=worker_env(app, app.config["MAIL_PORT"], **overrides),
        input=raw, capture_output=True, timeout=COMMAND_SECONDS,
    )


def closed_database_url(tmp_path: Path) -> str:
    """A SQLite file in a folder that does not exist: every connection fails."""
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.sqlite3'}"
