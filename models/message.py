"""Welcome messages: the delivery record staff see, and the development mailbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.credential import RegistrationCredential


class WelcomeMessage(db.Model):
    """One welcome message for one credential. It holds no body: the PIN is not kept at rest."""

    __tablename__ = "welcome_messages"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'text')", name="channel_known"),
        CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status_known"),
        CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint("status <> 'failed' OR last_error IS NOT NULL", name="failed_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    credential_id: Mapped[int] = mapped_column(
        ForeignKey("registration_credentials.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    credential: Mapped[RegistrationCredential] = relationship(backref=backref("welcome_message", uselist=False))

    @property
    def status_label(self) -> str:
        return self.status.capitalize()


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
