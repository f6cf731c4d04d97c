"""The settings every test app starts from, and settings a test changes on a running app."""

from __future__ import annotations

import os

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
# In CI a missing PostgreSQL or Chromium fails the run: a skip there would pass untested code.
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")

PORTAL_URL = "http://portal.example.test/portal/register"

SECRET_KEY = "test-secret-key-not-for-production"


def config_for(database_url: str, smtp_port: int, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "MAIL_DEFAULT_SENDER": "Cedar Pediatrics <portal@cedar.example>",
        "MAIL_TIMEOUT_SECONDS": 3,
        "PORTAL_URL": PORTAL_URL,
        # A cheap scrypt keeps hundreds of issues and redemptions fast; production uses werkzeug's
        # default (scrypt n=2**15), which test_pins_and_messages checks, and the timing test
        # sets a costly one of its own.
        "HASH_METHOD": "scrypt:1024:8:1",
        # Each app counts in its own memory (fresh per test); the limits stay the production
        # defaults unless a test sets PORTAL_RATE_LIMIT or SIGNIN_RATE_LIMIT (STACK-NOTES.md).
        "RATELIMIT_STORAGE_URI": "memory://",
        **extra,
    }


def set_clock(app, moment) -> None:
    app.config["CLOCK"] = lambda: moment


class MovableClock:
    """The app's CLOCK, standing still at `moment` until a test moves it."""

    def __init__(self, app, moment):
        self.moment = moment
        app.config["CLOCK"] = lambda: self.moment

    def advance(self, **delta) -> None:
        from datetime import timedelta

        self.moment += timedelta(**delta)
