"""Delivery under faults, on both databases:

- a worker killed between the mail server's acceptance and its database update: the message is
  sent again once the claim's lease runs out, exactly one duplicate, and never a third copy;
- CR/LF in an address: the window comes back 422 with the message beside the field, nothing issued
  and nothing sent;
- Retry clicked twice at once: one delivery, one 200 "Sent.", one 409;
- the staff screen answers within 6 s, never with a 500, whatever the mail server does.

The worker runs as the real `flask --app app outbox send` in a subprocess, against loopback SMTP
servers, with the test app's database, SECRET_KEY (the outbox key is derived from it) and mail
settings.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import os
import re
import signal
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

import services.delivery.outbox as outbox
from blueprints.extensions import db
from config import Config
from models import RegistrationCredential, WelcomeMessage, utcnow
from services.delivery.outbox import CLAIM_LEASE
from tests.support.builders import make_patient
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.mail import GreylistingHandler, RefusingHandler, point_mail_at, text_of
from tests.support.network import free_port
from tests.support.outbox_worker import make_due, start_worker
from tests.support.staff_screens import HX, issue, sign_in

REPO = Path(__file__).resolve().parents[2]
# Generous: a worker that hangs must fail the test, not the whole run.
WORKER_TIMEOUT = 90
DANA = "dana.carter@example.com"


# --- loopback mail servers ---------------------------------------------------------------------


class RecordingServer:
    """Accepts and keeps every message. `hold_first`: the first DATA is answered only once
    `release` is set (so a send can be caught in flight); `on_data(handler)` runs in the
    server's thread after a message is stored and before its 250 reply."""

    def __init__(self, hold_first: bool = False):
        self.messages = []
        self.lock = threading.Lock()
        self.hold_first = hold_first
        self.in_flight = threading.Event()  # the held DATA has arrived
        self.release = threading.Event()
        self.on_data = None

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)
            hold = self.hold_first and len(self.messages) == 1
        if hold:
            self.in_flight.set()
            waited = 0.0
            while not self.release.is_set() and waited < 60:
                await asyncio.sleep(0.02)  # never block the loop: other sessions go on meanwhile
                waited += 0.02
        if self.on_data is not None:
            await self.on_data(self)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


def _serve(handler) -> tuple[Controller, int]:
    port = free_port()  # Controller(port=0) does not work with aiosmtpd
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


@pytest.fixture
def recording_server():
    handler = RecordingServer()
    controller, port = _serve(handler)
    yield port, handler
    controller.stop()


@pytest.fixture
def holding_server():
    handler = RecordingServer(hold_first=True)
    controller, port = _serve(handler)
    yield port, handler
    handler.release.set()
    controller.stop()


@pytest.fixture
def child(app, practice):
    return make_patient(
        app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email=DANA, guardian_cell="6175550143"
    )


# --- the real worker, as a subprocess ----------------------------------------------------------


def finish(worker: subprocess.Popen) -> tuple[str, str]:
    try:
        return worker.communicate(timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate(timeout=WORKER_TIMEOUT)
        pytest.fail(f"`outbox send` did not finish within {WORKER_TIMEOUT} s")


def run_worker(app, mail_port: int) -> str:
    """One normal pass of `outbox send`; its printed counts."""
    worker = start_worker(app, mail_port)
    out, err = finish(worker)
    assert worker.returncode == 0, f"outbox send exited {worker.returncode}: {err}"
    return out


def delivery_rows(app) -> list[WelcomeMessage]:
    with app.app_context():
        rows = db.session.scalars(select(WelcomeMessage).order_by(WelcomeMessage.id)).all()
        db.session.expunge_all()
        return rows


def queue_one_message(app, staff_client, child) -> tuple[str, WelcomeMessage]:
    """Issue a PIN by email through the window while the mail server refuses connections: the
    PIN is issued, its message stays queued (attempt 1 failed temporarily)."""
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens there
    response = issue(staff_client, child.id)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "Not delivered yet" in body
    pin = pin_from(body)
    [row] = delivery_rows(app)
    assert row.status == "queued" and row.attempts == 1 and row.body_encrypted
    return pin, row


# --- 1. a worker killed between the mail server's acceptance and its database update -----------


def test_a_worker_killed_after_the_mail_server_accepted_sends_exactly_one_duplicate(
    app, staff_client, child, recording_server
):
    port, server = recording_server
    pin, row = queue_one_message(app, staff_client, child)
    make_due(app, row.id)

    victim: dict[str, int] = {}

    async def kill_the_worker(handler):
        # The message is stored: the mail server has it. The worker dies before it hears the
        # 250 reply, so it never records the delivery.
        for _ in range(500):  # the pid is set right after Popen returns; wait for it, bounded
            if "pid" in victim:
                break
            await asyncio.sleep(0.01)
        os.kill(victim["pid"], signal.SIGKILL)
        handler.on_data = None  # later workers are not killed

    server.on_data = kill_the_worker
    claimed_from = utcnow()
    worker = start_worker(app, port)
    victim["pid"] = worker.pid  # the process that holds the SMTP connection (flask runs in it)
    out, err = finish(worker)
    claimed_by = utcnow()
    assert worker.returncode == -signal.SIGKILL, f"the worker was not killed (exit {worker.returncode}): {err}"
    assert "sent:" not in out  # it never got as far as its report

    [first] = server.messages
    assert first["To"] == DANA and pin in text_of(first)
    # The database still says claimed: queued, the attempt counted, due again after the lease.
    [row] = delivery_rows(app)
    claimed = row
    assert row.status == "queued" and row.attempts == 2 and row.sent_at is None and row.body_encrypted
    assert claimed_from + CLAIM_LEASE - timedelta(seconds=1) <= row.next_attempt_at <= claimed_by + CLAIM_LEASE

    # While the lease holds, another worker leaves the message alone.
    output = run_worker(app, port)
    assert "sent: 0" in output and server.count() == 1

    # Stands in for CLAIM_LEASE (5 minutes) passing: the claimed row's next try is now past.
    make_due(app, row.id)
    output = run_worker(app, port)
    assert "sent: 1" in output and "retry later: 0" in output and "failed: 0" in output

    # At-least-once: the parent got the same message twice, and that is the only duplicate.
    first, second = server.messages
    assert second["To"] == DANA and text_of(second) == text_of(first) and pin in text_of(second)
    # One Message-ID for both copies, so mail systems that de-duplicate can drop the second.
    assert first["Message-ID"] and second["Message-ID"] == first["Message-ID"]
    # It names the message by its random token, which a bounce quotes back (nothing guessable).
    assert first["Message-ID"].startswith(f"<welcome.{row.token}@")
    assert claimed.claimed_until and claimed_from + CLAIM_LEASE - timedelta(seconds=1) <= claimed.claimed_until
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.sent_at is not None and row.body_encrypted is None
    assert row.attempts == 3 and row.next_attempt_at is None
    assert row.claimed_until is None  # the claim is released once the delivery is recorded

    # Nothing left to send, however late it gets.
    make_due(app, row.id)
    assert "sent: 0" in run_worker(app, port)
    assert server.count() == 2


def test_without_the_kill_the_same_worker_run_delivers_once(app, staff_client, child, recording_server):
    """The control for the test above: the two copies come from the kill, not from the setup."""
    port, server = recording_server
    pin, row = queue_one_message(app, staff_client, child)
    make_due(app, row.id)
    output = run_worker(app, port)
    assert "sent: 1" in output
    [only] = server.messages
    assert pin in text_of(only)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.body_encrypted is None and row.attempts == 2
    make_due(app, row.id)
    assert "sent: 0" in run_worker(app, port)
    assert server.count() == 1


# --- 2. CR/LF in an address --------------------------------------------------------------------


def verizon_id(app) -> str:
    with app.app_context():
        from services.delivery.carriers import find_carrier_by_name

        carrier_id = find_carrier_by_name(db.session, "Verizon").id
        db.session.remove()
    return str(carrier_id)


def row_counts(app) -> tuple[int, int]:
    with app.app_context():
        credentials = db.session.scalar(select(func.count()).select_from(RegistrationCredential))
        messages = db.session.scalar(select(func.count()).select_from(WelcomeMessage))
        db.session.remove()
    return credentials, messages


@pytest.mark.parametrize(
    "fields, field_id",
    [
        ({"email": "parent@example.com\r\nBcc: x@evil.test"}, "email"),
        ({"email": "parent@example.com\nBcc: x@evil.test"}, "email"),
        ({"email": "parent@example.com\rBcc: x@evil.test"}, "email"),
        ({"email": "parent@example.com\r\n.\r\nMAIL FROM:<x@evil.test>\r\n"}, "email"),
        ({"send_by": "text", "cell": "6175550199\r\nBcc: x@evil.test"}, "cell"),
        ({"send_by": "text", "cell": "6175550199\nBcc: x@evil.test"}, "cell"),
        ({"send_by": "text", "cell": "617555\n0199"}, "cell"),
    ],
    ids=["email-crlf", "email-lf", "email-cr", "email-smuggled-commands", "cell-crlf", "cell-lf", "cell-split"],
)
def test_a_line_break_in_an_address_is_refused_beside_its_field(
    app, staff_client, child, mailbox, fields, field_id
):
    if fields.get("send_by") == "text":
        fields = {**fields, "carrier": verizon_id(app)}
    response = issue(staff_client, child.id, **fields)
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body[:500]
    # The window again, with the message beside the field that holds the line break.
    assert "Patient Registration" in body
    error = re.search(rf'<p class="error" id="{field_id}-error">([^<]+)</p>', body)
    assert error, f"no message beside #{field_id}"
    assert re.search(r"one line|10-digit US cell|valid", html.unescape(error.group(1)))
    assert pin_not_shown(body)
    assert row_counts(app) == (0, 0)
    assert mailbox.messages == []


def pin_not_shown(body: str) -> bool:
    return re.search(r'class="pin">', body) is None


# --- 3. Retry clicked twice at once ------------------------------------------------------------


def second_staff_client(app):
    """Another browser signed in as the same staff member (its own session and CSRF token)."""
    client = app.test_client()
    assert sign_in(client).status_code == 302
    client.csrf_token = csrf_token_from(client.get("/patients").get_data(as_text=True))
    return client


def post_retry(client, patient_id: int, message_id: int):
    return client.post(
        f"/patients/{patient_id}/messages/{message_id}/retry", headers={**HX, "X-CSRFToken": client.csrf_token}
    )


def post_in_threads(*calls):
    """Run each call in its own thread, released together; their results in order."""
    start = threading.Barrier(len(calls), timeout=30)
    results: list = [None] * len(calls)
    errors: list = []

    def run(index, call):
        try:
            start.wait()
            results[index] = call()
        except BaseException as error:  # surfaced below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WORKER_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a Retry request hung"
    assert not errors, errors
    return results


def test_two_simultaneous_retries_deliver_once(app, staff_client, child, recording_server, monkeypatch):
    port, server = recording_server
    pin, row = queue_one_message(app, staff_client, child)
    other = second_staff_client(app)
    point_mail_at(app, MAIL_PORT=port)  # the mail server accepts again

    # Both clicks read the queued message before either claims it: each request waits at the
    # claim until the other has got there too (real threads, real database, real SMTP).
    both_read = threading.Barrier(2, timeout=30)
    real_claim = outbox.claim

    def claim_together(session, message, now):
        both_read.wait()
        return real_claim(session, message, now)

    monkeypatch.setattr(outbox, "claim", claim_together)
    first, second = post_in_threads(
        lambda: post_retry(staff_client, child.id, row.id), lambda: post_retry(other, child.id, row.id)
    )
    monkeypatch.setattr(outbox, "claim", real_claim)

    answers = sorted(
        [(first.status_code, html.unescape(first.get_data(as_text=True))),
         (second.status_code, html.unescape(second.get_data(as_text=True)))]
    )
    assert [status for status, _ in answers] == [200, 409]
    assert "Sent." in answers[0][1]
    assert "being sent right now" in answers[1][1] or "Already sent" in answers[1][1]
    [delivered] = server.messages
    assert pin in text_of(delivered)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.body_encrypted is None and row.attempts == 2

    # A Retry after Sent: 409, and nothing more goes out.
    again = post_retry(other, child.id, row.id)
    assert again.status_code == 409 and "Already sent" in html.unescape(again.get_data(as_text=True))
    assert server.count() == 1
    [row] = delivery_rows(app)
    assert row.attempts == 2


# A claim holds until it is recorded or its lease lapses (welcome_messages.claimed_until): a Retry
# clicked while another attempt is at the mail server sends nothing.


def test_a_retry_while_another_retry_is_sending_is_refused_and_sends_nothing(
    app, staff_client, child, holding_server
):
    port, server = holding_server
    pin, row = queue_one_message(app, staff_client, child)
    other = second_staff_client(app)
    point_mail_at(app, MAIL_PORT=port)

    answers: dict = {}
    first_click = threading.Thread(target=lambda: answers.setdefault("first", post_retry(staff_client, child.id, row.id)))
    first_click.start()
    try:
        assert server.in_flight.wait(30), "the first Retry never reached the mail server"
        # The first click's message is at the mail server, not yet accepted: a second click now.
        second = post_retry(other, child.id, row.id)
    finally:
        server.release.set()
        first_click.join(timeout=WORKER_TIMEOUT)
    assert not first_click.is_alive()
    assert server.count() == 1, f"{server.count()} copies delivered"
    assert answers["first"].status_code == 200 and "Sent." in answers["first"].get_data(as_text=True)
    assert second.status_code == 409 and "being sent right now" in html.unescape(second.get_data(as_text=True))


def test_a_retry_while_the_worker_is_sending_is_refused_and_sends_nothing(app, staff_client, child, holding_server):
    port, server = holding_server
    pin, row = queue_one_message(app, staff_client, child)
    make_due(app, row.id)
    point_mail_at(app, MAIL_PORT=port)
    worker = start_worker(app, port)
    try:
        assert server.in_flight.wait(WORKER_TIMEOUT), "the worker never reached the mail server"
        # The worker's claim is committed and its message is at the mail server: staff click Retry.
        click = post_retry(staff_client, child.id, row.id)
    finally:
        server.release.set()
        out, err = finish(worker)
    assert worker.returncode == 0, err
    assert server.count() == 1, f"{server.count()} copies delivered"
    assert "sent: 1" in out
    assert click.status_code == 409 and "being sent right now" in html.unescape(click.get_data(as_text=True))


# --- 4. the screen's answer time under each fault ----------------------------------------------

PRODUCTION_MAIL_TIMEOUT = Config(REPO / "instance", {"SECRET_KEY": "unused"}).as_mapping()["MAIL_TIMEOUT_SECONDS"]


@pytest.fixture
def fault_port(request):
    """A mail server with the fault named by the test's `fault` parameter; its port."""
    fault = request.node.callspec.params["fault"]
    if fault == "refused":
        yield free_port()
        return
    if fault == "silent":
        yield request.getfixturevalue("silent_server")
        return
    handler = GreylistingHandler() if fault == "451" else RefusingHandler()
    controller, port = _serve(handler)
    yield port
    controller.stop()


@pytest.mark.timing
@pytest.mark.parametrize(
    "fault, state",
    [
        ("refused", "queued"),
        pytest.param("silent", "queued", marks=pytest.mark.slow),
        ("451", "queued"),
        ("550", "failed"),
    ],
)
def test_the_screen_answers_within_6_seconds_whatever_the_mail_server_does(
    app, staff_client, child, fault, state, fault_port
):
    """With the production MAIL_TIMEOUT_SECONDS (5 s). test_delivery.py checks the silent and
    trickling servers with a 1 s timeout; this is the issue's requirement as deployed."""
    assert PRODUCTION_MAIL_TIMEOUT == 5
    point_mail_at(app, MAIL_PORT=fault_port, MAIL_TIMEOUT_SECONDS=PRODUCTION_MAIL_TIMEOUT)
    started = time.monotonic()
    response = issue(staff_client, child.id)
    elapsed = time.monotonic() - started
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200, body[:500]
    assert pin_from(body)
    assert elapsed < 6, f"{fault}: the screen waited {elapsed:.1f} s"
    [row] = delivery_rows(app)
    assert row.status == state and row.attempts == 1
