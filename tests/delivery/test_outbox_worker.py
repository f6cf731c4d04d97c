"""The outbox worker as it is deployed: `flask --app app outbox send` in a process of its own, reading
its settings from the environment, delivering to a real SMTP server on loopback (the session's sink).

- Rotating OUTBOX_KEY (README, Configuration: several keys separated by commas, the first encrypts,
  all decrypt): a message queued under the old key is still sent once the new key is put first,
  and a message queued after the rotation is encrypted under the new key, so it is sent even when
  the old key has been dropped.
- `outbox send --loop` keeps going: a message queued after it started, and after it delivered a
  first one, is delivered by the same process, which then stops cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import html
import re
import signal
import subprocess
import time
from datetime import date

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from blueprints.extensions import db
from models import WelcomeMessage
from tests.support.builders import make_patient
from tests.support.html_readers import pin_from
from tests.support.mail import point_mail_at, text_of
from tests.support.network import free_port
from tests.support.outbox_worker import make_due, start_worker
from tests.support.staff_screens import issue

# Bounded waits: a worker that hangs or stops early fails the test instead of the run.
WORKER_SECONDS = 60
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def delivery_rows(app) -> list[WelcomeMessage]:
    with app.app_context():
        rows = db.session.scalars(select(WelcomeMessage).order_by(WelcomeMessage.id)).all()
        db.session.expunge_all()
        return rows


def queue_pin(app, staff_client, patient, email: str) -> str:
    """Issue a PIN by email while the mail server is down: shown once, its message queued."""
    point_mail_at(app, MAIL_PORT=free_port())  # nothing listens there
    response = issue(staff_client, patient.id, email=email)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "Not delivered yet" in body, body
    return pin_from(body)


def run_once(app, mail_port: int, **overrides: str) -> str:
    worker = start_worker(app, mail_port, **overrides)
    try:
        out, err = worker.communicate(timeout=WORKER_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        pytest.fail(f"`outbox send` did not finish within {WORKER_SECONDS} s")
    assert worker.returncode == 0, f"outbox send exited {worker.returncode}: {err}"
    return out


def decrypts(key: str, token: bytes) -> bool:
    try:
        Fernet(key.encode()).decrypt(bytes(token))
    except InvalidToken:
        return False
    return True


def pins_in(mailbox) -> list[str]:
    return [re.search(r"PIN: ([0-9A-Z]{4}-[0-9A-Z]{4})", text_of(message)).group(1) for message in mailbox.messages]


class TestRotatingTheOutboxKey:
    @pytest.fixture
    def app_config(self):
        return {"OUTBOX_KEY": OLD_KEY}

    def test_old_messages_still_send_and_new_ones_use_the_new_key(self, app, staff_client, practice, child, mailbox, sink_port):
        before = queue_pin(app, staff_client, child, "dana.carter@example.com")

        # The rotation, on the web app and the worker alike: the new key first, the old one kept.
        app.config["OUTBOX_KEY"] = f"{NEW_KEY},{OLD_KEY}"
        noah = make_patient(app, practice, "Noah", "Carter", date(2016, 3, 3), guardian_email="noah.parent@example.com")
        after = queue_pin(app, staff_client, noah, "noah.parent@example.com")
        old_row, new_row = delivery_rows(app)
        assert decrypts(OLD_KEY, old_row.body_encrypted) and not decrypts(NEW_KEY, old_row.body_encrypted)
        assert decrypts(NEW_KEY, new_row.body_encrypted) and not decrypts(OLD_KEY, new_row.body_encrypted)

        make_due(app, old_row.id)
        output = run_once(app, sink_port, OUTBOX_KEY=f"{NEW_KEY},{OLD_KEY}")
        assert "sent: 1" in output and "failed: 0" in output, output
        assert pins_in(mailbox) == [before]

        # Once the old messages are gone, the old key can go: what was queued after the rotation sends.
        make_due(app, new_row.id)
        output = run_once(app, sink_port, OUTBOX_KEY=NEW_KEY)
        assert "sent: 1" in output and "failed: 0" in output, output
        assert pins_in(mailbox) == [before, after]
        assert [row.status for row in delivery_rows(app)] == ["sent", "sent"]


def wait_until_sent(app, mailbox, count: int, worker: subprocess.Popen) -> None:
    """Until `count` messages are in the mailbox *and* recorded as sent (a worker stopped between
    the mail server's acceptance and its record would send that message again later)."""
    deadline = time.monotonic() + WORKER_SECONDS
    while len(mailbox.messages) < count or [row.status for row in delivery_rows(app)].count("sent") < count:
        if worker.poll() is not None:
            out, err = worker.communicate()
            pytest.fail(f"`outbox send --loop` exited ({worker.returncode}) with {len(mailbox.messages)} of {count} "
                        f"messages delivered:\n{out}{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{len(mailbox.messages)} of {count} messages delivered within {WORKER_SECONDS} s")
        time.sleep(0.1)


def test_outbox_send_loop_keeps_delivering_what_is_queued_later(app, staff_client, practice, child, mailbox, sink_port):
    first = queue_pin(app, staff_client, child, "dana.carter@example.com")
    [row] = delivery_rows(app)
    make_due(app, row.id)
    worker = start_worker(app, sink_port, "--loop", "--interval", "0.2")
    try:
        wait_until_sent(app, mailbox, 1, worker)
        noah = make_patient(app, practice, "Noah", "Carter", date(2016, 3, 3), guardian_email="noah.parent@example.com")
        second = queue_pin(app, staff_client, noah, "noah.parent@example.com")
        make_due(app, delivery_rows(app)[-1].id)
        wait_until_sent(app, mailbox, 2, worker)
        assert worker.poll() is None  # still at work
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)  # what a supervisor or Ctrl-C sends
        try:
            out, err = worker.communicate(timeout=WORKER_SECONDS)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, err = worker.communicate()
    assert worker.returncode == 0, err
    # The first pass's report is out; the second's may not be, if SIGINT came just before it.
    assert "sent: 1" in out and out.rstrip().endswith("Stopped."), out
    assert pins_in(mailbox) == [first, second]
    assert [row.status for row in delivery_rows(app)] == ["sent", "sent"]
