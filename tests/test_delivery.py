"""Sending the welcome message against real servers on loopback: a refused connection, a
server that never answers, a permanent refusal. The PIN is issued either way and staff see
what happened to the message."""

from __future__ import annotations

import html
import socket
import time
from datetime import date

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from extensions import db
from models import WelcomeMessage
from tests.support import free_port, make_patient, pin_from
from tests.test_registration import issue


class RefusingHandler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox unavailable"


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never says a word (no SMTP greeting)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def refusing_server():
    port = free_port()
    controller = Controller(RefusingHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def point_mail_at(app, **settings) -> None:
    """Flask-Mail reads its settings once, in init_app: update them and bind again."""
    from extensions import mail

    app.config.update(settings)
    mail.init_app(app)


def delivery_rows(app):
    with app.app_context():
        rows = db.session.scalars(select(WelcomeMessage)).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


def test_refused_connection_leaves_the_pin_issued_and_the_message_failed(app, staff_client, child):
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens there
    response = issue(staff_client, child.id)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert pin_from(body)
    assert "Not delivered" in body and "Could not reach the mail server" in body
    [row] = delivery_rows(app)
    assert row.status == "failed" and row.last_error and row.attempts == 1
    account = html.unescape(staff_client.get(f"/patients/{child.id}").get_data(as_text=True))
    assert "Failed" in account and "Could not reach the mail server" in account


def test_a_mail_server_that_never_answers_does_not_hang_the_screen(app, staff_client, child, silent_server):
    point_mail_at(app, MAIL_PORT=silent_server, MAIL_TIMEOUT_SECONDS=1)
    started = time.monotonic()
    response = issue(staff_client, child.id)
    elapsed = time.monotonic() - started
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and pin_from(body)
    assert "did not answer in time" in body
    assert elapsed < 10, f"the screen waited {elapsed:.1f} s for a silent mail server"
    [row] = delivery_rows(app)
    assert row.status == "failed"


def test_a_permanent_refusal_is_shown_with_the_servers_reason(app, staff_client, child, refusing_server):
    point_mail_at(app, MAIL_PORT=refusing_server)
    body = html.unescape(issue(staff_client, child.id).get_data(as_text=True))
    assert "550" in body and "Mailbox unavailable" in body
    [row] = delivery_rows(app)
    assert row.status == "failed" and "550" in row.last_error
