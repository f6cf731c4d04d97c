"""Sending a message: through SMTP with Flask-Mail, or into the development mailbox.

Flask-Mail opens `smtplib.SMTP(server, port)` with no timeout; a mail server that accepts and
never answers would hang the staff screen. smtplib's own timeout is per socket operation, so a
server that trickles a byte at a time could still hold an attempt for minutes. `TimeoutConnection`
bounds the whole attempt (connect, greeting, every command and reply) by one deadline.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parseaddr

import flask_mail
from sqlalchemy.orm import Session

from models import DevMailboxMessage
from models.header_values import breaks_a_header
from services.delivery.masking import mask_email


@dataclass(frozen=True)
class OutgoingMail:
    recipient: str
    subject: str
    text: str
    html: str | None = None
    # Names this very message in its Message-ID, the same on every attempt, so that a duplicate
    # sent after a crash (at-least-once delivery) can be recognised and dropped by mail systems.
    reference: str | None = None


_TIMED_OUT = "The mail server did not answer in time."


def unreachable_reason(error: BaseException, service: str) -> str:
    """Why `service` ("mail server", "SMS service") could not be reached, as one sentence staff
    read, never a Python name."""
    if isinstance(error, socket.gaierror):
        return f"Could not reach the {service}: its address was not found."
    if isinstance(error, ConnectionRefusedError):
        return f"Could not reach the {service}: it refused the connection."
    if isinstance(error, ConnectionResetError):
        return f"Could not reach the {service}: the connection was cut off."
    if isinstance(error, ssl.SSLError):
        return f"Could not reach the {service}: the secure connection failed."
    if isinstance(error, smtplib.SMTPException):
        return f"The {service} broke off the conversation."
    return f"Could not reach the {service}."


class DeliveryFailed(Exception):
    """A send that did not go through; `reason` is safe to show staff and to store.

    `permanent`: sending the same message again cannot help (an SMTP 5xx reply, no mail server
    configured, a message that cannot be built). Otherwise the failure is temporary (a 4xx reply,
    a refused connection, a timeout, a dropped connection) and the message is retried later.
    `smtp_code`: the server's reply code, when it replied.

    `reason` quotes the server's reply, which usually names the recipient's address
    ("550 5.1.1 <dana@example.com>: Recipient address rejected"): logs get `log_summary` instead."""

    # The recipient asked to receive no more (only the SMS service says so: services/delivery/sms.py).
    opted_out = False

    def __init__(self, reason: str, permanent: bool = False, smtp_code: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.smtp_code = smtp_code

    @property
    def log_summary(self) -> str:
        """The outcome's kind and the SMTP code, never the reply's text."""
        kind = "permanent" if self.permanent else "temporary"
        return f"{kind} failure (SMTP {self.smtp_code})" if self.smtp_code is not None else f"{kind} failure (no SMTP reply)"


def refuse_broken_headers(mail: OutgoingMail, sender: str | tuple | None = None) -> None:
    """DeliveryFailed (permanent) when a value that becomes a header holds a line break or another
    control character (models/header_values.py): such a message is never sent, whatever let the
    value in (a template saved before the editor refused it, a practice's or patient's name)."""
    senders = [sender] if isinstance(sender, str) else [part for part in sender or () if part]
    for what, value in (("subject", mail.subject), ("recipient's address", mail.recipient),
                        *(("sender (MAIL_DEFAULT_SENDER)", part) for part in senders)):
        if breaks_a_header(value or ""):
            raise DeliveryFailed(
                f"Not sent: the message's {what} holds a line break or another control character.", permanent=True
            )


class _Deadline:
    """Cuts an SMTP attempt off when its time is up. smtplib's timeout is per socket operation,
    and a reply read byte by byte restarts it each time; shutting the socket down from a timer
    ends whatever read or write is under way."""

    def __init__(self, seconds: float):
        self.ends_at = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        def cut_off() -> None:
            self.expired = True
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        self._timer = threading.Timer(max(0.0, self.ends_at - time.monotonic()), cut_off)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _with_deadline(smtp_class: type, deadline: _Deadline) -> type:
    """An smtplib class whose connection the deadline watches from the moment it opens."""

    class DeadlineSMTP(smtp_class):
        def _get_socket(self, host, port, timeout):
            sock = super()._get_socket(host, port, timeout)
            deadline.watch(sock)
            return sock

    return DeadlineSMTP


class TimeoutConnection(flask_mail.Connection):
    """A Flask-Mail connection whose whole attempt must end within `timeout` seconds."""

    def __init__(self, mail, timeout: float):
        super().__init__(mail)
        self.timeout = timeout
        self.deadline = _Deadline(timeout)

    def configure_host(self):
        smtp_class = _with_deadline(smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP, self.deadline)
        host = smtp_class(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


class SmtpMailer:
    """Sends through the configured SMTP server (needs an app context for Flask-Mail)."""

    def __init__(self, mail_state, timeout: float, default_sender: str):
        self.mail_state = mail_state
        self.timeout = timeout
        self.default_sender = default_sender

    def send(self, mail: OutgoingMail, practice_id: int) -> None:
        if not self.mail_state.server:
            raise DeliveryFailed("No mail server is configured (MAIL_SERVER is not set).", permanent=True)
        refuse_broken_headers(mail, self.default_sender)
        message = flask_mail.Message(
            subject=mail.subject,
            recipients=[mail.recipient],
            body=mail.text,
            html=mail.html,
            sender=self.default_sender,
        )
        if mail.reference:
            sender = self.default_sender if isinstance(self.default_sender, str) else self.default_sender[-1]
            domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
            message.msgId = f"<{mail.reference}@{domain}>"
        try:
            self._send_within_deadline(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise DeliveryFailed(_reply_reason(code, reply), permanent=_is_permanent(code), smtp_code=code) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryFailed(
                _reply_reason(error.smtp_code, error.smtp_error), permanent=_is_permanent(error.smtp_code), smtp_code=error.smtp_code
            ) from None
        except TimeoutError:
            raise DeliveryFailed(_TIMED_OUT) from None
        except smtplib.SMTPServerDisconnected as error:
            # smtplib reports a read timeout as a disconnection ("...: timed out").
            reason = _TIMED_OUT if "timed out" in str(error) else "The mail server closed the connection."
            raise DeliveryFailed(reason) from None
        except (ConnectionError, OSError, smtplib.SMTPException) as error:
            raise DeliveryFailed(unreachable_reason(error, "mail server")) from None
        except Exception:  # the PIN is committed: any failure must reach staff, not a 500
            # Not the network: building or encoding the message failed, and would fail again.
            raise DeliveryFailed("The message could not be put together, so it was not sent.", permanent=True) from None


    def _send_within_deadline(self, message: flask_mail.Message) -> None:
        connection = TimeoutConnection(self.mail_state, self.timeout)
        try:
            with connection:
                connection.send(message)
        except Exception:
            if connection.deadline.expired:
                # Whatever smtplib made of the cut-off socket, the reason is the deadline.
                raise TimeoutError("the SMTP attempt ran out of time") from None
            raise
        finally:
            connection.deadline.cancel()


class DevMailbox:
    """Keeps messages in the database for the development outbox page (MAIL_SERVER unset)."""

    def __init__(self, session: Session):
        self.session = session

    def send(self, mail: OutgoingMail, practice_id: int) -> None:
        refuse_broken_headers(mail)
        self.session.add(
            DevMailboxMessage(
                practice_id=practice_id,
                recipient=mail.recipient,
                subject=mail.subject,
                text_body=mail.text,
                html_body=mail.html,
            )
        )


def _is_permanent(code: int) -> bool:
    """RFC 5321: 5yz is a permanent negative reply; 4yz (and anything unexpected) is transient."""
    return 500 <= code <= 599


# An address in a mail server's reply ("550 5.1.1 <dana@example.com>: Recipient address rejected").
_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>@]+")


def _reply_reason(code: int, reply: bytes | str) -> str:
    """The server's reply, as staff read it on the account page: with any address masked, as
    the page shows every contact."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = _ADDRESS.sub(lambda found: mask_email(found.group()), " ".join(text.split()))
    return f"The mail server replied {code}: {text}"[:480]


def mailer_for(config, mail_state, session: Session):
    """The development mailbox when DEV_OUTBOX, else SMTP with the configured timeout."""
    if config["DEV_OUTBOX"]:
        return DevMailbox(session)
    return SmtpMailer(mail_state, config["MAIL_TIMEOUT_SECONDS"], config["MAIL_DEFAULT_SENDER"])
