"""Real SMTP servers on loopback: the session's sink that keeps every message, and servers that
refuse, greylist or go wrong in the ways the delivery tests need; pointing the app's mail at one."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.network import free_port


@dataclass


class Mailbox:
    """What the loopback SMTP server received, parsed like a mail client would."""

    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parsed["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()


def start_smtp_server() -> tuple[Controller, Mailbox]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, mailbox


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


class RefusingHandler:
    """550 to every recipient: a permanent refusal that quotes the address, as Postfix does."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return f"550 5.1.1 <{address}>: Mailbox unavailable"


class GreylistingHandler:
    """451 (try again later) to the first recipient, then accepts."""

    def __init__(self):
        self.refused = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.refused:
            self.refused = True
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


class FlakyHandler:
    """Answers RCPT with 451 (try again later) `failures` times, then accepts and keeps the mail."""

    def __init__(self, failures: int = 1):
        self.failures = failures
        self.messages = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                return "451 4.3.0 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


def serve_smtp(handler):
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def point_mail_at(app, **settings) -> None:
    """Flask-Mail reads its settings once, in init_app: update them and bind again."""
    from blueprints.extensions import mail

    app.config.update(settings)
    mail.init_app(app)


def outbox_send(app) -> str:
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    return result.output
