"""A database failure in the middle of a request, under a real gunicorn (started as in production,
from the repository's gunicorn.conf.py) on PostgreSQL: the client gets our 500 page with the
security headers, and no log line (gunicorn's error and access logs, the app's) carries the query
string, the date of birth searched for, or SQL.

The database fails for the app alone: the app connects as a role of its own, in a database of its
own, and once signed in loses SELECT on `patients`, so the search fails after the session's own
queries succeeded (the transaction is left aborted, as after a dropped connection). The shared
PostgreSQL server keeps running for every other test."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import make_url

from app import create_app
from blueprints.extensions import db
from tests.support.app_settings import SECRET_KEY, TEST_DATABASE_URL, config_for
from tests.support.builders import make_patient, make_practice, make_staff
from tests.support.html_readers import csrf_token_from
from tests.support.network import free_port
from tests.support.outside_parts import require_part

REPO = Path(__file__).resolve().parents[2]
SEARCH = "/patients?last=cedar&first=eve&dob=2009-02-02&page=99999999999999999999"
# What the request and the failed query would put in a log line.
NEVER_LOGGED = ["last=cedar", "first=eve", "dob=", "2009-02-02", "02/02/2009", "99999999999999999999", "?",
                "SELECT", "[SQL", "patients.last_name", "permission denied"]


def _admin_connection(dbname: str):
    import psycopg

    url = make_url(TEST_DATABASE_URL)
    return psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                           dbname=dbname, autocommit=True)


@pytest.fixture
def failing_database(tmp_path):
    """A migrated database of this test's own, with a practice, its staff member and a patient,
    and a login role for the app; yields (the app's URL, a function that revokes its SELECT on
    patients)."""
    if not TEST_DATABASE_URL:
        require_part("PostgreSQL", "TEST_DATABASE_URL is not set")
    from psycopg import sql

    base = make_url(TEST_DATABASE_URL)
    name = f"{base.database}_gunicorn_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    role = f"portal_app_{secrets.token_hex(4)}"
    with _admin_connection("postgres") as server:
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin_url = base.set(database=name).render_as_string(hide_password=False)
    with _admin_connection(name) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    app = create_app(config_for(admin_url, free_port()))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.session.remove()
    practice = make_practice(app)
    make_staff(app, practice)
    make_patient(app, practice, "Eve", "Cedar", date(2009, 2, 2))
    with app.app_context():
        db.engine.dispose()
    with _admin_connection(name) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for grant in (
            "GRANT USAGE ON SCHEMA public TO {}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            connection.execute(sql.SQL(grant).format(sql.Identifier(role)))

    def revoke_patients():
        with _admin_connection(name) as connection:
            connection.execute(sql.SQL("REVOKE SELECT ON patients FROM {}").format(sql.Identifier(role)))

    try:
        yield base.set(database=name, username=role, password=None).render_as_string(hide_password=False), revoke_patients
    finally:
        with _admin_connection(name) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
            )
            connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _start_gunicorn(database_url: str, port: int, log_format: str, logs: Path) -> subprocess.Popen:
    """gunicorn as the README runs it (its settings from ./gunicorn.conf.py), on a loopback port,
    with only what production sets in its environment."""
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"}}
    env.update(
        DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, RATELIMIT_STORAGE_URI="memory://",
        PORTAL_URL="http://portal.example.test/portal/register", MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(free_port()), MAIL_DEFAULT_SENDER="portal@cedar.example", LOG_FORMAT=log_format,
    )
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
               "--threads", "2", "--worker-connections", "2", "--no-control-socket", "--graceful-timeout", "5"]
    with (logs / "stdout.log").open("wb") as stdout, (logs / "stderr.log").open("wb") as stderr:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr, start_new_session=True)


def _wait_until_serving(process: subprocess.Popen, port: int, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "gunicorn stopped:\n" + (logs / "stderr.log").read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail("gunicorn did not start serving:\n" + (logs / "stderr.log").read_text())


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group we started, and only that
            process.wait(timeout=10)


class Browser:
    """One client of the server, keeping the cookies it is given."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        sent.update(headers or {})
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response, text


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_database_failure_mid_request_logs_no_query_or_sql_and_answers_our_500_page(failing_database, tmp_path, log_format):
    database_url, revoke_patients = failing_database
    port = free_port()
    server = _start_gunicorn(database_url, port, log_format, tmp_path)
    try:
        _wait_until_serving(server, port, tmp_path)
        browser = Browser(port)
        _, page = browser.request("GET", "/signin")
        signed, _ = browser.request("POST", "/signin", {"username": "alex", "password": "correct-horse-battery",
                                                        "csrf_token": csrf_token_from(page)})
        assert signed.status == 302 and signed.getheader("Location").endswith("/patients")
        search_page, _ = browser.request("GET", "/patients")
        assert search_page.status == 200

        revoke_patients()  # the database now fails the search, after the session's queries succeed
        answers = [browser.request("GET", SEARCH), browser.request("GET", SEARCH, headers={"HX-Request": "true"})]
    finally:
        _stop(server)

    for response, text in answers:
        assert response.status == 500
        assert "Something went wrong" in text and "Check the patient" in text
        assert "default-src 'self'" in response.getheader("Content-Security-Policy")
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert response.getheader("Cache-Control") == "no-store"
        assert "Internal Server Error" not in text  # not gunicorn's own page
    full_page, fragment = answers[0][1], answers[1][1]
    assert "<!doctype html>" in full_page and "<!doctype html>" not in fragment

    lines = [line for name in ("stderr.log", "stdout.log") for line in (tmp_path / name).read_text().splitlines()]
    logged = "\n".join(lines)
    assert "ProgrammingError" in logged and "/patients" in logged, logged  # the failure is logged, by type
    leaks = {secret for secret in NEVER_LOGGED if secret in logged}
    assert not leaks, f"{leaks} reached the logs:\n{logged}"
    assert not re.search(r"\beve\b|\bcedar\b", logged, re.IGNORECASE), logged
    if log_format == "json":
        for line in lines:
            entry = json.loads(line)  # every line, gunicorn's own included
            assert {"time", "level", "logger", "message"} <= set(entry)
