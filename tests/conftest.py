"""Fixtures: the app on SQLite and on PostgreSQL, a real SMTP server on loopback, signed-in
clients. Every test that uses `app` runs once per database."""

from __future__ import annotations

import logging
import os

import pytest
from sqlalchemy import delete, insert, select, text

from app import create_app
from extensions import db
from tests.support import (
    csrf_token_from,
    make_practice,
    make_staff,
    portal_status_inputs_disagreeing,
    sign_in,
    start_smtp_server,
)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
PORTAL_URL = "http://portal.example.test/portal/register"
SECRET_KEY = "test-secret-key-not-for-production"


@pytest.fixture(scope="session")
def smtp():
    # aiosmtpd logs recipients and message lines; tests scan logs for PINs, so keep it quiet.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    controller, mailbox = start_smtp_server()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp):
    _, box = smtp
    box.clear()
    yield box
    box.clear()


def _config(database_url: str, smtp_port: int, **extra) -> dict:
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


def _reset_schema(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.session.remove()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory, smtp):
    """A migrated database: SQLite in a temp folder, or TEST_DATABASE_URL's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        if not TEST_DATABASE_URL:
            pytest.skip(
                "PostgreSQL tests skipped: TEST_DATABASE_URL is not set "
                "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
            )
        url = TEST_DATABASE_URL
    app = create_app(_config(url, smtp[0].port))
    _reset_schema(app)
    with app.app_context():
        carriers_table = db.metadata.tables["carriers"]
        carriers = [dict(row._mapping) for row in db.session.execute(select(carriers_table))]
        db.session.remove()
        db.engine.dispose()
    return url, carriers


def _empty_tables(carriers: list[dict]) -> None:
    """Remove every row the test made, and restore the carrier table as migrated."""
    db.session.rollback()
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(delete(table))
    carriers_table = db.metadata.tables["carriers"]
    db.session.execute(insert(carriers_table), carriers)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('carriers', 'id'), (SELECT max(id) FROM carriers))"))
    db.session.commit()
    db.session.remove()


@pytest.fixture
def app_config(database_url, smtp):
    """Extra settings for one test: override by parametrising or by updating this dict."""
    return {}


@pytest.fixture
def app(database_url, smtp, app_config):
    """The app, with no app context held: each request gets its own `g` and session, as in
    production. Tests that touch the database open `with app.app_context():`."""
    url, carriers = database_url
    app = create_app(_config(url, smtp[0].port, **app_config))
    yield app
    with app.app_context():
        try:
            # Whatever the test did, the triggers must have kept the status inputs right.
            db.session.rollback()
            assert portal_status_inputs_disagreeing(db.session) == []
        finally:
            _empty_tables(carriers)
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def practice(app):
    return make_practice(app)


@pytest.fixture
def staff_client(app, practice):
    """A client signed in as staff of `practice`."""
    make_staff(app, practice)
    client = app.test_client()
    response = sign_in(client)
    assert response.status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


@pytest.fixture
def other_practice(app):
    return make_practice(app, "Birch Family Medicine")
