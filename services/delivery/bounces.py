"""Reading a bounce: one message, as a mail server returns it, to what it says of our welcome
messages (services/delivery/reports.py `Bounce`, applied by `apply_bounce`).

A bounce names its message by the Message-ID we gave it (`<welcome.TOKEN@domain>`,
services/delivery/outbox.py `message_reference`), quoted in the returned original: the token
is random, so a bounce cannot be forged for a message whose token one does not know, and
`apply_bounce` acts only when the bounced address is the one the message went to.

- Standard reports (multipart/report; report-type=delivery-status, RFC 3464) are read with the
  standard library's parser: per recipient its Original-Recipient (else Final-Recipient),
  Action (failed: permanent; delayed: temporary; delivered, relayed, expanded: nothing to do),
  Status; the original's Message-ID from the message/rfc822 or text/rfc822-headers part.
- Other kinds (Exim's and old Postfix's plain-text bounces, and the other kinds flufl.bounce
  knows) go to flufl.bounce for the failed addresses and whether the failure is permanent; the
  token then comes from the original's headers, attached or quoted in the text.

Anything else (an auto-reply, a parent's answer, a bounce of someone else's mail) yields no
findings. The reason is plain words from the status code only: a remote server's diagnostic
text is arbitrary (it often repeats the address) and is not shown to staff."""

from __future__ import annotations

import email
import logging
import re
from email import policy
from email.message import Message

from services.delivery.reports import Bounce

log = logging.getLogger(__name__)
# flufl.bounce logs a failing detector's traceback, whose message can quote the bounce's text
# (addresses): read_bounce logs the exception's type instead.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

# Postfix's pipe(8) and Exim's pipe transport hand over whole messages; a bounce quoting a huge
# original is still read by its first part (the report comes before the returned message).
MAX_BOUNCE_BYTES = 10 * 1024 * 1024

_TOKEN_IN_ID = re.compile(r"^\s*<?welcome\.([0-9a-f]{32})@", re.IGNORECASE)
# A Message-ID header line of a quoted original, in a bounce's text.
_QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<welcome\.([0-9a-f]{32})@", re.IGNORECASE | re.MULTILINE)
# Not inside an IP address (a bounce names the hosts it tried).
_STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\w|\.\d)")

_PERMANENT_WORDS = {
    "5.1.0": "The address was refused",
    "5.1.1": "The mailbox does not exist",
    "5.1.2": "The address's domain does not exist",
    "5.1.3": "The address is not valid",
    "5.1.6": "The mailbox has moved",
    "5.1.10": "The address's domain accepts no mail",
    "5.2.0": "The mailbox cannot take mail",
    "5.2.1": "The mailbox is disabled",
    "5.2.2": "The mailbox is full",
    "5.2.3": "The message is too large for the mailbox",
    "5.3.4": "The message is too large for the recipient's mail server",
    "5.4.4": "The recipient's mail server could not be found",
    "5.4.7": "The mail server gave up trying to deliver it",
    "5.7.0": "The recipient's mail server refused it for security reasons",
    "5.7.1": "The recipient's mail server refused it by policy",
    "5.7.26": "The recipient's mail server refused it: our domain's sender authentication failed",
}


def plain_reason(status: str | None, permanent: bool) -> str:
    """Staff's words for an enhanced status code (RFC 3463), the code in brackets."""
    code = status if status and _STATUS.fullmatch(status) else None
    if not permanent:
        code = code if code and code.startswith("4.") else "4.0.0"
        if code == "4.2.2":
            return "Delivery is delayed: the mailbox is full (4.2.2)"
        return f"Delivery is delayed ({code})"
    if code and code.startswith("4."):
        # Failed with a temporary code: the mail server kept trying until it gave up.
        return f"The mail server gave up trying to deliver it ({code})"
    code = code if code and code.startswith("5.") else "5.0.0"
    words = _PERMANENT_WORDS.get(code, "The mail server could not deliver it")
    return f"{words} ({code})"


def token_of(message_id: str | None) -> str | None:
    """The token in one of our Message-IDs (`<welcome.TOKEN@domain>`), else None."""
    if not message_id:
        return None
    match = _TOKEN_IN_ID.match(str(message_id))
    return match.group(1).lower() if match else None


def read_bounce(raw: bytes) -> list[Bounce]:
    """What `raw` (one whole message) says of our messages' recipients: [] when it is no bounce
    of one of ours, or cannot be read."""
    try:
        message = email.message_from_bytes(raw[:MAX_BOUNCE_BYTES], policy=policy.default)
        report = _delivery_status_part(message)
        if report is not None:
            return _from_report(message, report)
        return _from_other_kinds(message)
    except Exception as error:  # noqa: BLE001 - malformed mail of any kind: not a bounce we can use
        log.warning("bounce unreadable (%s); ignored", type(error).__name__)
        return []


def _delivery_status_part(message: Message) -> Message | None:
    if message.get_content_type() != "multipart/report":
        return None
    if (message.get_param("report-type") or "").lower() != "delivery-status":
        return None
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            return part
    return None


def _field(block: Message, name: str) -> str:
    return " ".join(str(block.get(name, "")).split())


def _address(value: str) -> str:
    """`rfc822; dana@example.com` -> `dana@example.com`."""
    kind, _, address = value.partition(";")
    if not address:
        address = kind
    elif kind.strip().lower() != "rfc822":
        return ""
    return address.strip().strip("<>").strip()


def _from_report(message: Message, report: Message) -> list[Bounce]:
    token = _original_token(message)
    if token is None:
        return []
    blocks = report.get_payload()
    if not isinstance(blocks, list):
        return []
    findings = []
    for block in blocks[1:]:  # the first block is about the message, the others one recipient each
        action = _field(block, "Action").lower()
        if action not in ("failed", "delayed"):
            continue
        recipient = _address(_field(block, "Original-Recipient")) or _address(_field(block, "Final-Recipient"))
        if not recipient:
            continue
        status = _field(block, "Status").split(" ")[0] or None
        permanent = action == "failed"
        findings.append(Bounce(token, recipient, permanent, plain_reason(status, permanent)))
    return findings


def _original_token(message: Message) -> str | None:
    """The token of the returned original: its attached message or headers, else its Message-ID
    quoted in the bounce's text. Two different tokens: no telling which one bounced."""
    tokens = set()
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                tokens.add(token_of(inner.get("Message-ID")))
        elif content_type == "text/rfc822-headers":
            headers = email.message_from_string(_text_of(part), policy=policy.default)
            tokens.add(token_of(headers.get("Message-ID")))
    tokens.discard(None)
    if not tokens:
        for part in message.walk():
            if part.get_content_type() == "text/plain" and not _inside_attached_message(message, part):
                tokens.update(match.lower() for match in _QUOTED_MESSAGE_ID.findall(_text_of(part)))
    return tokens.pop() if len(tokens) == 1 else None


def _inside_attached_message(message: Message, wanted: Message) -> bool:
    """Whether `wanted` is the body of an attached original (already read by its headers)."""
    return any(
        part.get_content_type() == "message/rfc822" and any(inner is wanted for inner in part.walk())
        for part in message.walk()
    )


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload())
    return payload.decode(part.get_content_charset() or "utf-8", errors="replace")


def _from_other_kinds(message: Message) -> list[Bounce]:
    from flufl.bounce import all_failures

    token = _original_token(message)
    if token is None:
        return []
    temporary, permanent = all_failures(message)
    status = _status_in_text(message)
    findings = []
    for addresses, is_permanent in ((permanent, True), (temporary - permanent, False)):
        reason = plain_reason(status, is_permanent)
        for address in sorted(addresses):
            recipient = address.decode("ascii", errors="replace").strip().strip("<>")
            if recipient:
                findings.append(Bounce(token, recipient, is_permanent, reason))
    return findings


def _status_in_text(message: Message) -> str | None:
    """The first enhanced status code in the bounce's own words (before the quoted original)."""
    for part in message.walk():
        if part.get_content_type() != "text/plain" or _inside_attached_message(message, part):
            continue
        text = _text_of(part)
        original = _QUOTED_MESSAGE_ID.search(text)
        match = _STATUS.search(text[: original.start()] if original else text)
        if match:
            return match.group(0)
    return None
