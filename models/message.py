"""Welcome messages: the delivery record staff see, and the development mailbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.credential import RegistrationCredential
from models.vocabulary import Channel, MessageStatus, one_of


class WelcomeMessage(db.Model):
    """One welcome message for one credential, and its delivery record.

    While it may still be sent or retried, its body (the PIN or question link) is held encrypted
    in `body_encrypted` (services/delivery/message_cipher.py, key outside the database). The body is erased
    once the message is sent, once it has failed for good, and once its credential is used,
    revoked or expired: a sent message never holds one (CHECK sent_holds_no_body)."""

    __tablename__ = "welcome_messages"
    __table_args__ = (
        CheckConstraint(one_of("channel", Channel), name="channel_known"),
        CheckConstraint(one_of("status", MessageStatus), name="status_known"),
        CheckConstraint(f"status <> '{MessageStatus.SENT}' OR sent_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint(f"status <> '{MessageStatus.FAILED}' OR last_error IS NOT NULL", name="failed_has_reason"),
        CheckConstraint(f"status <> '{MessageStatus.SENT}' OR body_encrypted IS NULL", name="sent_holds_no_body"),
        # The worker's question: queued messages due by now.
        Index("ix_welcome_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    credential_id: Mapped[int] = mapped_column(
        ForeignKey("registration_credentials.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(10), default=MessageStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    # When a queued message is next due (the worker sends it at or after this time).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # While an attempt is under way: when its claim lapses (a sender that died lets go then).
    # No one else may claim the message before that (services/delivery/outbox.py).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    body_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    credential: Mapped[RegistrationCredential] = relationship(backref=backref("welcome_message", uselist=False))

    @property
    def status_label(self) -> str:
        return MessageStatus(self.status).label

    @property
    def holds_body(self) -> bool:
        """Whether Retry can still send this very message (its body is not erased yet)."""
        return self.body_encrypted is not None and self.status != MessageStatus.SENT


class DevMailboxMessage(db.Model):
    """Mail 'delivered' while MAIL_SERVER is unset. Only development mode writes bodies here."""

    __tablename__ = "dev_mailbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
