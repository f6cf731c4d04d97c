"""Bounces from a mailbox (BOUNCE_IMAP_URL), for practices whose mail is hosted by a provider:
`outbox send` reads it on each pass (services/delivery/bounces.py reads each message).

- `imaps://user:password@host:993/INBOX` (TLS from the start) or `imap://…:143/…` (STARTTLS;
  without STARTTLS the password goes in the clear only to a loopback address). User and
  password are percent-decoded. Certificates are verified by `ssl.create_default_context()`,
  which trusts the system's authorities, or the file the standard SSL_CERT_FILE names.
- Messages are read with BODY.PEEK[] (a message left behind stays unread for a person).
- A message is deleted only when it is a bounce of one of our messages: a delivery report or
  a bounce flufl.bounce recognises, naming a welcome message's Message-ID
  (`read_bounce` found something), and every finding was handled, whatever `apply_bounce`
  made of it (applied, a repeat, or a token or recipient that is not ours: a bounce all the
  same, which would otherwise be read again on every pass). Anything else (a parent's reply,
  an auto-reply, a bounce of someone else's mail, a message too large) stays.
- A message read that is not a bounce gets the IMAP keyword `$PinsNotABounce` (nothing a person
  sees as unread or deleted changes) and is not read again: a pass reads at most
  MAX_MESSAGES_PER_PASS messages, and without the keyword a folder holding that many replies
  would hide every newer bounce. A server that refuses keywords (no `\\*` in PERMANENTFLAGS)
  is read newest first instead, so a new bounce is still found.
- A mailbox that cannot be reached is a warning in the log, naming the host only."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from services.delivery.bounces import MAX_BOUNCE_BYTES, read_bounce
from services.delivery.hosts import is_loopback_host
from services.delivery.reports import ReportOutcome, apply_bounce

log = logging.getLogger(__name__)

IMAP_TIMEOUT_SECONDS = 30
# Bounds one pass; what is left is read on the next one.
MAX_MESSAGES_PER_PASS = 200
# Marks a message read and found to be no bounce (see the module's docstring).
NOT_A_BOUNCE = "$PinsNotABounce"


class MailboxUnusable(Exception):
    """The mailbox could not be reached, refused us, or BOUNCE_IMAP_URL is malformed. The message
    names the host, never the user or password."""


@dataclass(frozen=True)
class MailboxAddress:
    secure: bool  # imaps: TLS from the first byte
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str

    @property
    def shown(self) -> str:
        """For logs: without user and password."""
        return f"{'imaps' if self.secure else 'imap'}://{self.host}:{self.port}/{self.folder}"


def mailbox_address(url: str) -> MailboxAddress:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise MailboxUnusable("BOUNCE_IMAP_URL is not a URL") from None
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or parts.username is None:
        raise MailboxUnusable("BOUNCE_IMAP_URL must look like imaps://user:password@host:993/INBOX")
    secure = parts.scheme == "imaps"
    return MailboxAddress(
        secure=secure, host=parts.hostname, port=port or (993 if secure else 143),
        user=unquote(parts.username), password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


@dataclass
class MailboxPass:
    """What one reading of the mailbox came to (counts only: no address, no content)."""

    read: int = 0
    bounces: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    deleted: int = 0


def poll_bounce_mailbox(session: Session, url: str, clock: Callable[[], datetime],
                        timeout: float = IMAP_TIMEOUT_SECONDS) -> MailboxPass:
    """Read the mailbox once: apply every bounce of ours, delete those (see the module's
    docstring). Raises MailboxUnusable when it cannot; a database error propagates with the
    message it was applying left in the mailbox."""
    address = mailbox_address(url)
    try:
        connection = _connect(address, timeout)
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxUnusable(f"bounce mailbox {address.shown} unreachable ({type(error).__name__})") from None
    try:
        return _read_bounces(connection, address, session, clock)
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxUnusable(f"bounce mailbox {address.shown} failed ({type(error).__name__})") from None
    finally:
        try:
            connection.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _connect(address: MailboxAddress, timeout: float) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    if address.secure:
        connection = imaplib.IMAP4_SSL(address.host, address.port, ssl_context=context, timeout=timeout)
    else:
        connection = imaplib.IMAP4(address.host, address.port, timeout=timeout)
        if "STARTTLS" in connection.capabilities:
            connection.starttls(ssl_context=context)
        elif not is_loopback_host(address.host):
            connection.shutdown()
            raise imaplib.IMAP4.error("no STARTTLS offered; the password is not sent in the clear")
    try:
        connection.login(address.user, address.password)
    except imaplib.IMAP4.error:
        connection.shutdown()
        raise imaplib.IMAP4.error("login refused") from None  # the server's words may repeat the user
    return connection


def _read_bounces(connection: imaplib.IMAP4, address: MailboxAddress, session: Session,
                  clock: Callable[[], datetime]) -> MailboxPass:
    folder = address.folder if address.folder.isalnum() else '"' + address.folder.replace('"', '\\"') + '"'
    typ, _ = connection.select(folder)
    if typ != "OK":
        raise imaplib.IMAP4.error("folder not found")
    keywords = _keywords_allowed(connection)
    # Larger messages are not read (and so never deleted): a bounce is far smaller.
    criteria = ["UNDELETED", "SMALLER", str(MAX_BOUNCE_BYTES + 1)]
    if keywords:
        criteria += ["UNKEYWORD", NOT_A_BOUNCE]
    typ, data = connection.uid("SEARCH", None, *criteria)
    uids = data[0].split() if typ == "OK" and data and data[0] else []
    if not keywords:
        uids.reverse()
    uids = uids[:MAX_MESSAGES_PER_PASS]
    report = MailboxPass()
    handled, not_bounces = [], []
    try:
        for uid in uids:
            raw = _fetch(connection, uid)
            if raw is None:
                continue
            report.read += 1
            findings = read_bounce(raw)
            if not findings:
                not_bounces.append(uid)
                continue
            report.bounces += 1
            for finding in findings:
                outcome = apply_bounce(session, finding, clock)
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
            handled.append(uid)
    finally:
        # What was applied is committed: delete those bounces even when a later one failed.
        report.deleted = _delete(connection, handled)
        if keywords and not_bounces:
            # Best effort: a connection lost here must not hide why the pass ended; those
            # messages are read again next time.
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                connection.uid("STORE", b",".join(not_bounces).decode(), "+FLAGS.SILENT", f"({NOT_A_BOUNCE})")
    return report


def _keywords_allowed(connection: imaplib.IMAP4) -> bool:
    """Whether the selected folder keeps keywords a client makes up (`\\*` in PERMANENTFLAGS)."""
    _, data = connection.response("PERMANENTFLAGS")
    return any(isinstance(item, bytes) and b"\\*" in item for item in data or [])


def _fetch(connection: imaplib.IMAP4, uid: bytes) -> bytes | None:
    typ, data = connection.uid("FETCH", uid, "(BODY.PEEK[])")
    if typ != "OK":
        return None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _delete(connection: imaplib.IMAP4, uids: list[bytes]) -> int:
    if not uids:
        return 0
    uid_set = b",".join(uids).decode()
    typ, _ = connection.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
    if typ != "OK":
        return 0
    if "UIDPLUS" in _capabilities(connection):
        connection.uid("EXPUNGE", uid_set)  # only ours, not what a person marked deleted
    else:
        connection.expunge()
    return len(uids)


def _capabilities(connection: imaplib.IMAP4) -> set[str]:
    """Asked after login: a server may offer more to a signed-in user than at the greeting."""
    typ, data = connection.capability()
    return set(data[0].decode("ascii", "replace").upper().split()) if typ == "OK" and data and data[0] else set()


def outcome_summary(report: MailboxPass) -> str:
    counts = ", ".join(f"{ReportOutcome(name).value} {count}" for name, count in sorted(report.outcomes.items()))
    return f"bounce mailbox: {report.read} read, {report.bounces} bounces ({counts or 'none'}), {report.deleted} deleted"
