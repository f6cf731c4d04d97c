"""Fixtures: the app on SQLite and on PostgreSQL, a real SMTP server on loopback, signed-in
clients, mail servers that refuse. Every test that uses `app` runs once per database.

Under pytest-xdist (`make test` runs two workers) each worker has its own SQLite file and its
own PostgreSQL database, TEST_DATABASE_URL's name + `_gw0`, `_gw1`…, created when missing."""

from __future__ import annotations

import logging
import os

import pytest
from sqlalchemy import delete, insert, make_url, select, text

from app import create_app
from blueprints.extensions import db
from tests.support.app_settings import TEST_DATABASE_URL, config_for
from tests.support.builders import make_practice, make_staff
from tests.support.fake_twilio import FakeTwilio
from tests.support.html_readers import csrf_token_from
from tests.support.mail import RefusingHandler, serve_smtp, start_smtp_server
from tests.support.outside_parts import require_part
from tests.support.rows import portal_status_inputs_disagreeing
from tests.support.staff_screens import sign_in


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


def _reset_schema(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.session.remove()


def _create_database_if_missing(server_url, name: str) -> None:
    """Through the server's `postgres` database: CREATE DATABASE cannot run in a transaction."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=server_url.host, port=server_url.port, user=server_url.username, password=server_url.password,
        dbname="postgres", autocommit=True, **server_url.query,
    ) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        try:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:  # made at the same moment by another run
            pass


def _postgresql_url_for_this_worker(url: str) -> str:
    """Workers of one run would empty each other's tables in a shared database: each xdist
    worker gets its own (the name + `_gw0`, `_gw1`…); a run without xdist uses `url` itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    _create_database_if_missing(parsed, name)
    return parsed.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory, smtp):
    """A migrated database: SQLite in a temp folder, or TEST_DATABASE_URL's PostgreSQL. In CI
    (CI=true) a missing TEST_DATABASE_URL fails the PostgreSQL half instead of skipping it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    else:
        if not TEST_DATABASE_URL:
            require_part("PostgreSQL", "TEST_DATABASE_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
        url = _postgresql_url_for_this_worker(TEST_DATABASE_URL)
    app = create_app(config_for(url, smtp[0].port))
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
    app = create_app(config_for(url, smtp[0].port, **app_config))
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


@pytest.fixture
def refusing_server():
    """A mail server that refuses every recipient (550); yields its port."""
    controller, port = serve_smtp(RefusingHandler())
    yield port
    controller.stop()


@pytest.fixture
def fake_twilio():
    """Twilio's Messages endpoint on loopback (tests/support/fake_twilio.py); point
    TWILIO_API_URL at `fake_twilio.url` (twilio_settings does)."""
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def sink_port(app):
    """The session's SMTP sink (the `mailbox` fixture), to point mail back at."""
    return app.config["MAIL_PORT"]
