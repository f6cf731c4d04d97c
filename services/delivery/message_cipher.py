"""The encrypted body of a queued welcome message (no PIN at rest).

While a message may still be sent or retried, its composed mail (subject, text, HTML: the PIN or
the question link) is kept in `welcome_messages.body_encrypted`, encrypted with Fernet under a key
that is not in the database: `OUTBOX_KEY` (one Fernet key, or several separated by commas: the
first encrypts, every one decrypts, for rotation) or, when unset, a key derived from SECRET_KEY
with HKDF-SHA256. The plaintext also names the message id and the recipient, and both are checked
on decryption, so a body copied into another row (another recipient) is refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.delivery.mail_delivery import OutgoingMail

HKDF_INFO = b"welcome-message-outbox"


class BodyUnreadable(Exception):
    """The body cannot be decrypted with our keys, or belongs to another message."""


def derive_key(secret_key: str) -> bytes:
    """A Fernet key from SECRET_KEY (HKDF-SHA256, fixed info string, no salt)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


class MessageCipher:
    def __init__(self, keys: list[bytes]):
        if not keys:
            raise ValueError("no outbox key")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_config(cls, config: Mapping) -> MessageCipher:
        """OUTBOX_KEY from the app's configuration (config.py reads it), else derived from SECRET_KEY."""
        configured = config.get("OUTBOX_KEY")
        if configured:
            keys = [part.strip().encode() for part in configured.split(",") if part.strip()]
            try:
                return cls(keys)
            except ValueError:
                raise ValueError("OUTBOX_KEY must be Fernet keys (32 url-safe base64-encoded bytes), comma-separated") from None
        return cls([derive_key(config["SECRET_KEY"])])

    def encrypt(self, message_id: int | str, mail: OutgoingMail) -> bytes:
        payload = {
            "message_id": message_id,
            "recipient": mail.recipient,
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
        }
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode())

    def decrypt(self, message_id: int | str, recipient: str, token: bytes) -> OutgoingMail:
        try:
            payload = json.loads(self._fernet.decrypt(bytes(token)))
        except (InvalidToken, ValueError):
            raise BodyUnreadable("The stored message could not be decrypted (was OUTBOX_KEY changed?).") from None
        if payload.get("message_id") != message_id or payload.get("recipient") != recipient:
            raise BodyUnreadable("The stored message belongs to another message.")
        return OutgoingMail(
            recipient=payload["recipient"], subject=payload["subject"], text=payload["text"], html=payload["html"]
        )
