"""Sending the welcome message against real servers on loopback: a refused connection,
a server that never answers, a 451 temporary reply then success, a 550 permanent refusal. The
PIN is issued either way; a temporary failure leaves the message queued with its body encrypted,
and `outbox send` delivers that same message later; staff see what happened and can Retry."""

from __future__ import annotations

import html
import logging
import socket
import time
from datetime import date, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text, update

from blueprints.extensions import db
from models import RegistrationCredential, WelcomeMessage, utcnow
from services.delivery.outbox import MAX_ATTEMPTS, retry_delay
from tests.support.app_settings import set_clock
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.mail import FlakyHandler, outbox_send, point_mail_at, serve_smtp, text_of
from tests.support.network import free_port
from tests.support.rows import delivery_rows
from tests.support.staff_screens import HX, account_page, issue, sign_in

POLLING = 'hx-trigger="every 5s"'
# A sent email may still bounce: its region refreshes itself slowly for an hour.
AWAITING_BOUNCES = 'hx-trigger="every 30s"'


@pytest.fixture
def flaky_server():
    handler = FlakyHandler(failures=1)
    controller, port = serve_smtp(handler)
    yield port, handler
    controller.stop()


def raw_row_bytes(app, message_id: int) -> bytes:
    """Every column of the row as the database returns it, as bytes."""
    table = WelcomeMessage.__table__
    with app.app_context():
        row = db.session.execute(select(table).where(table.c.id == message_id)).one()
        db.session.remove()
    return b"|".join(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode() for value in row)


def test_backoff_grows_from_a_minute_to_an_hour():
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS)]
    assert delays[0] == timedelta(minutes=1) and delays[-1] == timedelta(hours=1)
    assert delays == sorted(delays) and MAX_ATTEMPTS == 8


def test_refused_connection_queues_the_message_and_the_worker_delivers_the_same_pin(
    app, staff_client, child, mailbox, sink_port
):
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens there
    issued_at = utcnow()
    response = issue(staff_client, child.id)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    pin = pin_from(body)
    assert "is queued. Could not reach the mail server: it refused the connection. Next try" in body
    [row] = delivery_rows(app)
    assert row.status == "queued" and row.attempts == 1 and "Could not reach the mail server" in row.last_error
    assert timedelta(seconds=50) < row.next_attempt_at - issued_at < timedelta(minutes=2)
    # The body is held, encrypted: neither form of the PIN appears anywhere in the row.
    assert row.body_encrypted
    stored = raw_row_bytes(app, row.id)
    assert pin.encode() not in stored and pin.replace("-", "").encode() not in stored

    account = account_page(staff_client, child.id)
    assert "Queued</span>: not delivered yet. Could not reach the mail server: it refused the connection. Next try" in account
    assert POLLING in account and ">Retry</button>" in account

    point_mail_at(app, MAIL_PORT=sink_port)
    assert "sent: 0" in outbox_send(app)  # not due yet: the backoff holds
    assert mailbox.messages == []
    set_clock(app, row.next_attempt_at + timedelta(seconds=1))
    output = outbox_send(app)
    assert "sent: 1" in output and "retry later: 0" in output and "failed: 0" in output
    [delivered] = mailbox.messages
    assert pin in text_of(delivered)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.sent_at and row.body_encrypted is None and row.attempts == 2

    assert "sent: 0" in outbox_send(app)  # exactly one delivery
    assert len(mailbox.messages) == 1
    account = account_page(staff_client, child.id)
    assert "Sent" in account and POLLING not in account and ">Retry</button>" not in account
    assert AWAITING_BOUNCES in account
    with app.app_context():  # an hour on, without moving the clock (that ends the staff session)
        sent = db.session.get(WelcomeMessage, row.id)
        sent.sent_at -= timedelta(hours=1, seconds=1)
        db.session.commit()
    account = account_page(staff_client, child.id)
    assert "Sent" in account and AWAITING_BOUNCES not in account and POLLING not in account


def test_a_mail_server_that_never_answers_does_not_hang_the_screen(app, staff_client, child, silent_server):
    point_mail_at(app, MAIL_PORT=silent_server, MAIL_TIMEOUT_SECONDS=1)
    started = time.monotonic()
    response = issue(staff_client, child.id)
    elapsed = time.monotonic() - started
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and pin_from(body)
    assert elapsed < 6, f"the screen waited {elapsed:.1f} s for a silent mail server"
    [row] = delivery_rows(app)
    assert row.status == "queued" and "did not answer in time" in row.last_error and row.body_encrypted


@pytest.fixture
def trickling_server():
    """Greets one byte every 0.3 s: each read succeeds well within a 1 s socket timeout, so
    only a deadline on the whole attempt stops it (the greeting would take over a minute)."""
    import threading

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                for byte in b"220 " + b"x" * 200 + b"\r\n":
                    if stop.wait(0.3):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    sock.close()


def test_a_trickling_mail_server_is_cut_off_by_the_attempts_deadline(app, staff_client, child, trickling_server):
    point_mail_at(app, MAIL_PORT=trickling_server, MAIL_TIMEOUT_SECONDS=1)
    started = time.monotonic()
    response = issue(staff_client, child.id)
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and pin_from(html.unescape(response.get_data(as_text=True)))
    assert elapsed < 4, f"the screen waited {elapsed:.1f} s for a trickling mail server"
    [row] = delivery_rows(app)
    assert row.status == "queued" and "did not answer in time" in row.last_error


def test_a_temporary_reply_is_retried_and_delivered_once(app, staff_client, child, flaky_server):
    port, server = flaky_server
    point_mail_at(app, MAIL_PORT=port)
    pin = pin_from(html.unescape(issue(staff_client, child.id).get_data(as_text=True)))
    [row] = delivery_rows(app)
    assert row.status == "queued" and "451" in row.last_error and server.messages == []
    set_clock(app, row.next_attempt_at)
    assert "sent: 1" in outbox_send(app)
    [delivered] = server.messages
    assert pin in text_of(delivered)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.body_encrypted is None
    assert "sent: 0" in outbox_send(app) and len(server.messages) == 1


def test_a_permanent_refusal_fails_at_once_with_the_servers_reason(app, staff_client, child, refusing_server):
    point_mail_at(app, MAIL_PORT=refusing_server)
    body = html.unescape(issue(staff_client, child.id).get_data(as_text=True))
    assert "Not delivered" in body and "550" in body and "Mailbox unavailable" in body
    [row] = delivery_rows(app)
    assert row.status == "failed" and "550" in row.last_error and row.attempts == 1
    assert row.body_encrypted is None and row.next_attempt_at is None
    account = account_page(staff_client, child.id)
    assert "Failed" in account and "Mailbox unavailable" in account
    assert POLLING not in account and ">Retry</button>" not in account and "Issue a new PIN" in account
    # Nothing for the worker to do.
    set_clock(app, utcnow() + timedelta(days=1))
    assert "sent: 0" in outbox_send(app) and "failed: 0" in outbox_send(app)


def test_after_eight_temporary_failures_the_message_fails(app, staff_client, child):
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    [row] = delivery_rows(app)
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        moment = row.next_attempt_at
        waits.append(row.next_attempt_at)
        set_clock(app, moment)
        output = outbox_send(app)
        [row] = delivery_rows(app)
        if row.status == "queued":
            assert "retry later: 1" in output
            waits[-1] = row.next_attempt_at - moment
    assert "failed: 1" in output
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS and row.body_encrypted is None
    assert "Could not reach the mail server" in row.last_error
    assert waits[:-1] == [retry_delay(n) for n in range(2, MAX_ATTEMPTS)]
    assert POLLING not in account_page(staff_client, child.id)


def test_retry_sends_the_same_message_now(app, staff_client, child, mailbox, sink_port):
    point_mail_at(app, MAIL_PORT=free_port())
    pin = pin_from(html.unescape(issue(staff_client, child.id).get_data(as_text=True)))
    [row] = delivery_rows(app)
    url = f"/patients/{child.id}/messages/{row.id}/retry"
    assert staff_client.post(url, headers=HX).status_code == 400  # no CSRF token

    # Still failing: it stays queued, with the reason and a next try.
    answer = staff_client.post(url, headers={**HX, "X-CSRFToken": staff_client.csrf_token})
    text = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 200 and "Not delivered yet" in text and 'id="delivery-guardian"' in text
    [row] = delivery_rows(app)
    assert row.status == "queued" and row.attempts == 2

    point_mail_at(app, MAIL_PORT=sink_port)
    answer = staff_client.post(url, headers={**HX, "X-CSRFToken": staff_client.csrf_token})
    text = html.unescape(answer.get_data(as_text=True))
    assert answer.status_code == 200 and "Sent." in text
    assert POLLING not in text and ">Retry</button>" not in text
    [delivered] = mailbox.messages
    assert pin in text_of(delivered)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.body_encrypted is None and row.attempts == 3

    # Sent: nothing more to retry.
    again = staff_client.post(url, headers={**HX, "X-CSRFToken": staff_client.csrf_token})
    assert again.status_code == 409 and len(mailbox.messages) == 1


def test_retry_without_javascript_redirects_back_to_the_account(app, staff_client, child, mailbox, sink_port):
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    [row] = delivery_rows(app)
    point_mail_at(app, MAIL_PORT=sink_port)
    token = csrf_token_from(staff_client.get(f"/patients/{child.id}").get_data(as_text=True))
    answer = staff_client.post(f"/patients/{child.id}/messages/{row.id}/retry", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/patients/{child.id}")
    assert len(mailbox.messages) == 1 and "Sent." in account_page(staff_client, child.id)


def test_a_refusal_that_quotes_the_address_keeps_it_out_of_the_logs(app, staff_client, child, refusing_server, caplog):
    """The 550 reply names the recipient (RefusingHandler, like Postfix); staff see it on the
    screen masked, as every contact there, and the logs only the attempt's outcome."""
    caplog.set_level(logging.DEBUG)
    point_mail_at(app, MAIL_PORT=refusing_server)
    shown = html.unescape(issue(staff_client, child.id).get_data(as_text=True))
    assert "<d•••@example.com>: Mailbox unavailable" in shown and "dana.carter@example.com" not in shown.split("Email")[0]
    [row] = delivery_rows(app)
    assert row.status == "failed" and "<d•••@example.com>" in row.last_error and "dana.carter" not in row.last_error
    assert f"welcome message {row.id} attempt 1: failed" in caplog.text
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "dana.carter@example.com" not in logged and "Mailbox unavailable" not in logged


def test_retry_of_an_erased_message_says_to_issue_a_new_pin(app, staff_client, child, refusing_server):
    point_mail_at(app, MAIL_PORT=refusing_server)
    issue(staff_client, child.id)
    [row] = delivery_rows(app)
    answer = staff_client.post(
        f"/patients/{child.id}/messages/{row.id}/retry", headers={**HX, "X-CSRFToken": staff_client.csrf_token}
    )
    assert answer.status_code == 409 and "Issue a new PIN" in answer.get_data(as_text=True)


def test_retry_is_scoped_to_the_signed_in_practice(app, staff_client, child, other_practice):
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    [row] = delivery_rows(app)
    theirs = make_patient(app, other_practice, "Liam", "Okafor", date(2016, 2, 1))
    make_staff(app, other_practice, "blake")
    other = app.test_client()
    assert sign_in(other, "blake").status_code == 302
    token = csrf_token_from(other.get("/patients").get_data(as_text=True))
    headers = {**HX, "X-CSRFToken": token}
    assert other.post(f"/patients/{child.id}/messages/{row.id}/retry", headers=headers).status_code == 404
    assert other.post(f"/patients/{theirs.id}/messages/{row.id}/retry", headers=headers).status_code == 404
    [row] = delivery_rows(app)
    assert row.attempts == 1 and row.status == "queued"


def test_a_revoked_pins_queued_message_is_never_sent_and_its_body_is_erased(app, staff_client, child, mailbox, sink_port):
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    [row] = delivery_rows(app)
    answer = staff_client.post(
        f"/patients/{child.id}/credentials/{row.credential_id}/revoke",
        data={"revoke-guardian-reason": "Parent asked for a printed letter instead"},
        headers={**HX, "X-CSRFToken": staff_client.csrf_token},
    )
    assert answer.status_code == 200
    [row] = delivery_rows(app)
    assert row.body_encrypted is None and row.status == "failed" and "revoked" in row.last_error
    point_mail_at(app, MAIL_PORT=sink_port)
    set_clock(app, utcnow() + timedelta(hours=3))
    assert "sent: 0" in outbox_send(app)
    assert mailbox.messages == []
    assert POLLING not in account_page(staff_client, child.id)


def test_the_worker_withdraws_messages_of_used_or_expired_pins(app, staff_client, child, practice, mailbox, sink_port):
    second = make_patient(app, practice, "Noah", "Carter", date(2019, 3, 3), guardian_email="dana.carter@example.com")
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    issue(staff_client, second.id)
    used, expiring = delivery_rows(app)
    with app.app_context():
        # The first PIN was redeemed at the desk (the redemption itself is tested elsewhere).
        db.session.execute(
            update(RegistrationCredential).where(RegistrationCredential.id == used.credential_id).values(used_at=utcnow())
        )
        db.session.commit()
        expires_at = db.session.get(RegistrationCredential, expiring.credential_id).expires_at
        db.session.remove()
    point_mail_at(app, MAIL_PORT=sink_port)
    set_clock(app, expires_at + timedelta(minutes=1))
    output = outbox_send(app)
    assert "sent: 0" in output and "PIN no longer active: 2" in output
    assert mailbox.messages == []
    used, expiring = delivery_rows(app)
    assert used.body_encrypted is None and used.status == "failed" and "was used" in used.last_error
    assert expiring.body_encrypted is None and expiring.status == "failed" and "expired" in expiring.last_error


class TestWithItsOwnOutboxKey:
    @pytest.fixture
    def app_config(self):
        return {"OUTBOX_KEY": Fernet.generate_key().decode()}

    def test_a_body_needs_the_key_it_was_encrypted_with(self, app, staff_client, child, mailbox, sink_port):
        point_mail_at(app, MAIL_PORT=free_port())
        issue(staff_client, child.id)
        [row] = delivery_rows(app)
        point_mail_at(app, MAIL_PORT=sink_port)
        set_clock(app, row.next_attempt_at)
        app.config["OUTBOX_KEY"] = Fernet.generate_key().decode()  # lost or changed key
        assert "failed: 1" in outbox_send(app)
        [row] = delivery_rows(app)
        assert row.status == "failed" and "could not be decrypted" in row.last_error and row.body_encrypted is None
        assert mailbox.messages == []


@pytest.mark.parametrize(
    "key", ["not-a-fernet-key", Fernet.generate_key().decode() + ",short"], ids=["not-a-key", "a-key-then-a-short-one"]
)
def test_a_malformed_outbox_key_stops_the_app_at_start(database_url, smtp, key):
    """Not at the first PIN issued, when a parent is at the desk."""
    from app import create_app
    from tests.support.app_settings import config_for

    with pytest.raises(ValueError, match="OUTBOX_KEY must be Fernet keys"):
        create_app(config_for(database_url[0], smtp[0].port, OUTBOX_KEY=key))


def test_a_body_moved_to_another_row_is_refused(app, staff_client, child, practice, mailbox, sink_port):
    second = make_patient(app, practice, "Noah", "Carter", date(2019, 3, 3), guardian_email="other@example.com")
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    issue(staff_client, second.id, email="mallory@example.com")
    first, other = delivery_rows(app)
    with app.app_context():
        db.session.execute(
            update(WelcomeMessage).where(WelcomeMessage.id == other.id).values(body_encrypted=first.body_encrypted)
        )
        db.session.commit()
        db.session.remove()
    point_mail_at(app, MAIL_PORT=sink_port)
    set_clock(app, max(first.next_attempt_at, other.next_attempt_at))
    output = outbox_send(app)
    assert "sent: 1" in output and "failed: 1" in output
    [delivered] = mailbox.messages
    assert delivered["To"] == "dana.carter@example.com"
    first, other = delivery_rows(app)
    assert other.status == "failed" and "belongs to another message" in other.last_error


class TestTwoWorkersOnPostgreSQL:
    @pytest.fixture
    def app_config(self, database_url):
        """This app's connections wait at most 2 s for a row lock, then fail: a worker that waited
        for another's row (no SKIP LOCKED) fails the test with LockNotAvailable instead of hanging."""
        if not database_url[0].startswith("postgresql"):
            return {}
        return {"SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True, "hide_parameters": True, "connect_args": {"options": "-c lock_timeout=2s"},
        }}

    def test_a_worker_passes_over_a_message_another_worker_holds(self, app, staff_client, child, mailbox, sink_port):
        with app.app_context():
            if db.engine.dialect.name != "postgresql":
                pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite runs a single worker")
        point_mail_at(app, MAIL_PORT=free_port())
        issue(staff_client, child.id)
        [row] = delivery_rows(app)
        point_mail_at(app, MAIL_PORT=sink_port)
        set_clock(app, row.next_attempt_at)
        table = WelcomeMessage.__table__
        with app.app_context():
            assert db.session.execute(text("SHOW lock_timeout")).scalar() == "2s"
            db.session.remove()
            other_worker = db.engine.connect()
            held = other_worker.begin()
            other_worker.execute(select(table.c.id).where(table.c.id == row.id).with_for_update())
            result = app.test_cli_runner().invoke(args=["outbox", "send"])
            held.rollback()
            other_worker.close()
        assert result.exception is None, f"the worker waited for the held row: {result.exception!r}"
        assert "sent: 0" in result.output  # passed over, not waited for
        assert "sent: 1" in outbox_send(app)
        assert len(mailbox.messages) == 1


def test_issuing_anew_erases_the_replaced_pins_queued_message(app, staff_client, child, mailbox, sink_port):
    point_mail_at(app, MAIL_PORT=free_port())
    issue(staff_client, child.id)
    point_mail_at(app, MAIL_PORT=sink_port)
    issue(staff_client, child.id)
    replaced, current = delivery_rows(app)
    assert replaced.status == "failed" and replaced.body_encrypted is None and "replaced" in replaced.last_error
    assert current.status == "sent" and current.body_encrypted is None
    set_clock(app, utcnow() + timedelta(hours=3))
    assert "sent: 0" in outbox_send(app) and len(mailbox.messages) == 1
