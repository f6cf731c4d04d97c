"""The real outbox worker, `flask --app app outbox send [--loop]`, as a subprocess configured from the
environment as a deployed worker is, on a test app's database, secrets and mail settings."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import case, update

from blueprints.extensions import db
from models import WelcomeMessage, utcnow

REPO = Path(__file__).resolve().parents[2]


def worker_command(*options: str) -> list[str]:
    script = Path(sys.executable).with_name("flask")  # .venv/bin/flask: a python script, no fork
    base = [str(script)] if script.exists() else [sys.executable, "-m", "flask"]
    return [*base, "--app", "app", "outbox", "send", *options]


def worker_env(app, mail_port: int, **overrides: str) -> dict[str, str]:
    """The test app's settings, as the environment a deployed worker reads them from; `overrides`
    replace any of them (e.g. OUTBOX_KEY after a rotation)."""
    config = app.config
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "MAIL_"))
        and key not in {"DATABASE_URL", "SECRET_KEY", "OUTBOX_KEY", "RATELIMIT_STORAGE_URI", "PORTAL_URL"}
    }
    env.update(
        DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=config["SECRET_KEY"],  # without OUTBOX_KEY, the outbox key is derived from it
        PORTAL_URL=config["PORTAL_URL"],
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(mail_port),
        MAIL_DEFAULT_SENDER=config["MAIL_DEFAULT_SENDER"],
        MAIL_TIMEOUT_SECONDS=str(config["MAIL_TIMEOUT_SECONDS"]),
        PYTHONUNBUFFERED="1",
    )
    if config.get("OUTBOX_KEY"):
        env["OUTBOX_KEY"] = config["OUTBOX_KEY"]
    env.update(overrides)
    return env


def start_worker(app, mail_port: int, *options: str, **overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        worker_command(*options), cwd=REPO, env=worker_env(app, mail_port, **overrides),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def make_due(app, message_id: int) -> None:
    """The subprocess reads the real clock: move the message's next try, and the end of any
    claim on it (a killed worker's), into the past, as if that time had passed."""
    with app.app_context():
        past = utcnow() - timedelta(seconds=1)
        db.session.execute(
            update(WelcomeMessage)
            .where(WelcomeMessage.id == message_id)
            .values(next_attempt_at=past, claimed_until=case((WelcomeMessage.claimed_until.is_(None), None), else_=past))
        )
        db.session.commit()
        db.session.remove()
