"""Bounces as mail servers write them (tests/delivery/bounces/), piped to the real `flask --app app
outbox bounce` in a process of its own, for a welcome email issued through the staff screens to
the loopback SMTP server. Each bounce quotes that email's real Message-ID and recipient.

- A permanent failure (an RFC 3464 report from Postfix; Exim's and old Postfix's plain-text
  bounces) turns `Sent` into `Failed` with the reason in plain words, once.
- A delay notice leaves it `Sent` and notes the delay on its timeline.
- A bounce quoting a token that is not ours, or another recipient, and an auto-reply change
  nothing and exit 0; a database out of reach exits 75, so the mail server keeps the bounce."""

from __future__ import annotations

import html
import secrets
import signal
import subprocess
import threading
import time
from urllib.parse import quote

import pytest
from sqlalchemy import select

from blueprints.extensions import db
from models import DeliveryEvent
from models.audit import AuditEvent
from services.delivery.bounce_mailbox import MAX_MESSAGES_PER_PASS, NOT_A_BOUNCE
from tests.support.bounces import COMMAND_SECONDS, bounce_message, closed_database_url, pipe_bounce
from tests.support.dovecot import PASSWORD, start_dovecot
from tests.support.html_readers import pin_from
from tests.support.network import free_port
from tests.support.outbox_worker import REPO, start_worker, worker_command, worker_env
from tests.support.rows import delivery_rows
from tests.support.staff_screens import account_page, issue

RECIPIENT = "dana.carter@example.com"


@pytest.fixture
def sent_email(app, staff_client, child, mailbox):
    """A PIN issued by email through the Patient Registration window, taken by the mail server:
    the Message-ID the mail server saw."""
    response = issue(staff_client, child.id, email=RECIPIENT)
    assert response.status_code == 200 and pin_from(html.unescape(response.get_data(as_text=True)))
    [sent] = mailbox.messages
    [row] = delivery_rows(app)
    assert row.status == "sent" and sent["Message-ID"] == f"<welcome.{row.token}@cedar.example>"
    return sent["Message-ID"]


def events(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(DeliveryEvent.kind, DeliveryEvent.detail).order_by(DeliveryEvent.id)).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def bounce_audits(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.outcome, AuditEvent.detail).where(AuditEvent.action == "delivery report")
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def piped(app, raw: bytes, **overrides: str):
    result = pipe_bounce(app, raw, **overrides)
    output = (result.stdout + result.stderr).decode()
    # Staff may see the address masked; a log line never carries it.
    assert RECIPIENT not in output and "dana.carter" not in output, output
    return result.returncode, output


@pytest.mark.parametrize("kind", ["postfix-dsn-mailbox-unknown", "exim-plain-text", "postfix-plain-text"])
def test_a_permanent_bounce_shows_the_email_failed_with_the_reason(app, staff_client, child, sent_email, kind):
    assert "Sent</span>" in account_page(staff_client, child.id)
    code, output = piped(app, bounce_message(kind, sent_email, RECIPIENT))
    assert code == 0 and "applied 1" in output, output

    page = account_page(staff_client, child.id)
    assert "Failed</span>: The mailbox does not exist (5.1.1)" in page
    [row] = delivery_rows(app)
    assert row.status == "failed" and row.last_error == "The mailbox does not exist (5.1.1)"
    assert events(app)[-1] == ("bounced", "The mailbox does not exist (5.1.1)")
    [(outcome, detail)] = bounce_audits(app)
    assert outcome == "failure" and detail == f"email {row.id} failed (bounce)"

    # The mail server delivering the same bounce again changes nothing.
    code, output = piped(app, bounce_message(kind, sent_email, RECIPIENT))
    assert code == 0 and "ignored 1" in output, output
    assert [kind for kind, _ in events(app)].count("bounced") == 1 and len(bounce_audits(app)) == 1


def test_a_delay_notice_is_noted_and_the_email_stays_sent(app, staff_client, child, sent_email):
    before = events(app)
    code, output = piped(app, bounce_message("dsn-delayed", sent_email, RECIPIENT))
    assert code == 0 and "applied 1" in output, output
    assert "Sent</span>" in account_page(staff_client, child.id)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.last_error is None
    assert events(app) == [*before, ("delayed", "Delivery is delayed (4.4.1). The mail server keeps trying.")]
    assert bounce_audits(app) == []


@pytest.mark.parametrize("case", ["forged token", "another recipient", "auto-reply", "not a bounce at all"])
def test_what_is_no_bounce_of_this_message_changes_nothing(app, staff_client, child, sent_email, case):
    raw = {
        "forged token": bounce_message(
            "postfix-dsn-mailbox-unknown", f"<welcome.{secrets.token_hex(16)}@cedar.example>", RECIPIENT
        ),
        "another recipient": bounce_message("postfix-dsn-mailbox-unknown", sent_email, "someone.else@example.com"),
        "auto-reply": bounce_message("auto-reply", sent_email, RECIPIENT),
        "not a bounce at all": b"\x00\xff garbage \r\n\r\n" + bytes(range(256)),
    }[case]
    before = events(app)
    code, output = piped(app, raw)
    assert code == 0, output
    assert "applied" not in output
    assert "Sent</span>" in account_page(staff_client, child.id)
    [row] = delivery_rows(app)
    assert row.status == "sent" and row.last_error is None
    assert events(app) == before and bounce_audits(app) == []


@pytest.mark.parametrize("unreachable", ["sqlite folder missing", "postgresql port closed"])
def test_a_database_out_of_reach_exits_75_so_the_mail_server_tries_again(
    app, staff_client, child, sent_email, tmp_path, unreachable
):
    raw = bounce_message("postfix-dsn-mailbox-unknown", sent_email, RECIPIENT)
    url = (closed_database_url(tmp_path) if unreachable.startswith("sqlite")
           else f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    code, output = piped(app, raw, DATABASE_URL=url)
    assert code == 75, output
    assert "database error" in output
    [row] = delivery_rows(app)
    assert row.status == "sent"

    # The mail server's next try, with the database back, applies it.
    code, output = piped(app, raw)
    assert code == 0 and "applied 1" in output, output
    assert "Failed</span>: The mailbox does not exist (5.1.1)" in account_page(staff_client, child.id)


class TestTheBounceMailbox:
    """BOUNCE_IMAP_URL against dovecot on loopback: `outbox send` reads the mailbox, applies the
    bounce of ours and deletes only it; a parent's reply and an auto-reply stay, unread. Its
    certificate is trusted only through SSL_CERT_FILE."""

    @pytest.fixture
    def dovecot(self):
        server = start_dovecot()
        yield server
        server.stop()

    @pytest.fixture
    def mailbox_contents(self, dovecot, sent_email):
        bounce = bounce_message("postfix-dsn-mailbox-unknown", sent_email, RECIPIENT)
        reply = (
            f"From: Dana Carter <{RECIPIENT}>\r\nTo: portal@cedar.example\r\nSubject: Re: Your patient portal"
            f" registration PIN\r\nIn-Reply-To: {sent_email}\r\nMessage-ID: <reply.1@example.com>\r\n\r\n"
            f"Thanks! Does this mailbox does not exist message matter?\r\n\r\n> Message-ID: {sent_email}\r\n"
        ).encode()
        for raw in (bounce, reply, bounce_message("auto-reply", sent_email, RECIPIENT)):
            dovecot.append(raw)
        ids = [message_id for message_id, _ in dovecot.messages()]
        assert len(ids) == 3 and ids[1:] == ["<reply.1@example.com>", "<ooo.20261202204210.77@example.com>"]
        return ids

    def send_pass(self, app, dovecot, **env: str) -> str:
        settings = worker_env(app, app.config["MAIL_PORT"], BOUNCE_IMAP_URL=dovecot.url())
        for key in ("SSL_CERT_FILE", "SSL_CERT_DIR"):  # only what the test says is trusted
            settings.pop(key, None)
        settings.update(env)
        try:
            worker = subprocess.run(worker_command(), cwd=REPO, env=settings, capture_output=True, text=True,
                                    timeout=COMMAND_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`outbox send` did not finish within {COMMAND_SECONDS} s")
        assert worker.returncode == 0, f"outbox send exited {worker.returncode}: {worker.stderr}"
        out, err = worker.stdout, worker.stderr
        output = out + err
        assert PASSWORD not in output and quote(PASSWORD, safe="") not in output and RECIPIENT not in output, output
        return output

    def test_a_bounce_in_the_mailbox_fails_the_email_and_only_the_bounce_is_deleted(
        self, app, staff_client, child, dovecot, mailbox_contents
    ):
        output = self.send_pass(app, dovecot, SSL_CERT_FILE=str(dovecot.cert_file))
        assert "bounce mailbox: 3 read, 1 bounces (applied 1), 1 deleted" in output, output
        assert "Failed</span>: The mailbox does not exist (5.1.1)" in account_page(staff_client, child.id)
        # The reply and the auto-reply are still there, still unread for the person who reads them.
        assert dovecot.messages() == [(message_id, False) for message_id in mailbox_contents[1:]]

    def test_without_ssl_cert_file_the_test_certificate_is_refused_and_nothing_changes(
        self, app, staff_client, child, dovecot, mailbox_contents
    ):
        output = self.send_pass(app, dovecot)
        assert f"bounce mailbox imaps://127.0.0.1:{dovecot.port}/INBOX unreachable (SSLCertVerificationError)" in output
        assert "sent: 0" in output  # the pass itself went on
        assert "Sent</span>" in account_page(staff_client, child.id)
        assert [message_id for message_id, _ in dovecot.messages()] == mailbox_contents

    def test_a_bounce_behind_more_replies_than_one_pass_reads_is_still_found(
        self, app, staff_client, child, dovecot, sent_email
    ):
        """A pass reads at most 200 messages: replies it read are marked, not read again, so a
        bounce that arrived after 201 of them is found on the next pass."""
        replies = [
            (f"From: Parent {n} <parent{n}@example.com>\r\nTo: portal@cedar.example\r\nSubject: Re: PIN\r\n"
             f"Message-ID: <reply.{n}@example.com>\r\n\r\nThank you.\r\n").encode()
            for n in range(MAX_MESSAGES_PER_PASS + 1)
        ]
        dovecot.append(*replies, bounce_message("postfix-dsn-mailbox-unknown", sent_email, RECIPIENT))
        first = self.send_pass(app, dovecot, SSL_CERT_FILE=str(dovecot.cert_file))
        assert f"bounce mailbox: {MAX_MESSAGES_PER_PASS} read, 0 bounces (none), 0 deleted" in first, first
        second = self.send_pass(app, dovecot, SSL_CERT_FILE=str(dovecot.cert_file))
        assert "bounce mailbox: 2 read, 1 bounces (applied 1), 1 deleted" in second, second
        assert "Failed</span>: The mailbox does not exist (5.1.1)" in account_page(staff_client, child.id)
        # Every reply is still there, unread and undeleted, with only the keyword added.
        left = dovecot.messages()
        assert [message_id for message_id, _ in left] == [f"<reply.{n}@example.com>" for n in range(len(replies))]
        assert not any(seen for _, seen in left)
        assert all(flags == {NOT_A_BOUNCE} for flags in dovecot.keywords())
        assert "0 read" in self.send_pass(app, dovecot, SSL_CERT_FILE=str(dovecot.cert_file))

    def run_loop(self, app, url: str, until, **env: str) -> tuple[str, str]:
        """`outbox send --loop` until `until(output so far)` holds (bounded), then Ctrl-C."""
        settings = {"BOUNCE_IMAP_URL": url, **env}
        worker = start_worker(app, app.config["MAIL_PORT"], "--loop", "--interval", "0.2", **settings)
        out_lines: list[str] = []
        err_lines: list[str] = []
        readers = [threading.Thread(target=lambda: out_lines.extend(worker.stdout), daemon=True),
                   threading.Thread(target=lambda: err_lines.extend(worker.stderr), daemon=True)]
        for reader in readers:
            reader.start()
        try:
            deadline = time.monotonic() + COMMAND_SECONDS
            while not until("".join(out_lines + err_lines)) and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert worker.poll() is None, "the loop ended on its own"
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=COMMAND_SECONDS)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            for reader in readers:
                reader.join(timeout=10)
            worker.stdout.close()
            worker.stderr.close()
        out, err = "".join(out_lines), "".join(err_lines)
        assert worker.returncode == 0 and "Stopped." in out, err
        assert PASSWORD not in out + err and quote(PASSWORD, safe="") not in out + err
        return out, err

    def test_the_loop_reads_the_mailbox_and_goes_on_when_it_cannot(
        self, app, staff_client, child, dovecot, mailbox_contents
    ):
        closed = dovecot.url().replace(f":{dovecot.port}/", f":{free_port()}/")
        _, err = self.run_loop(app, closed, lambda output: "unreachable" in output)
        assert "unreachable (ConnectionRefusedError); trying again on a later pass" in err
        assert "Sent</span>" in account_page(staff_client, child.id)

        out, _ = self.run_loop(app, dovecot.url(), lambda output: "bounce mailbox:" in output,
                               SSL_CERT_FILE=str(dovecot.cert_file))
        assert "bounce mailbox: 3 read, 1 bounces (applied 1), 1 deleted" in out
        assert "Failed</span>: The mailbox does not exist (5.1.1)" in account_page(staff_client, child.id)
        assert [message_id for message_id, _ in dovecot.messages()] == mailbox_contents[1:]
