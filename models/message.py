"""Welcome messages: the delivery record staff see, and the development mailbox."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.credential import RegistrationCredential
from models.vocabulary import Channel, DeliveryEventKind, MessageStatus, one_of

REPORTS_AWAITED = timedelta(hours=1)
# Statuses after the message left us: it holds no body and has the time it went.
_LEFT_US = f"('{MessageStatus.SENT}', '{MessageStatus.DELIVERED}')"
_CARRIER_ACCEPTED = f"kind = '{DeliveryEventKind.CARRIER_ACCEPTED}'"


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
        CheckConstraint(f"status NOT IN {_LEFT_US} OR sent_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint(f"status <> '{MessageStatus.FAILED}' OR last_error IS NOT NULL", name="failed_has_reason"),
        CheckConstraint(f"status NOT IN {_LEFT_US} OR body_encrypted IS NULL", name="sent_holds_no_body"),
        CheckConstraint(f"status <> '{MessageStatus.DELIVERED}' OR delivered_at IS NOT NULL", name="delivered_has_time"),
        # A text through the SMS service goes to an E.164 number (+1…); every other message to an address.
        CheckConstraint(
            f"(channel = '{Channel.SMS}') = (substr(recipient, 1, 1) = '+' AND replace(recipient, '@', '') = recipient)",
            name="recipient_fits_channel",
        ),
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
    # Random, in the Message-ID of every attempt (services/delivery/outbox.py): a bounce names its
    # message by it, and nobody can name a message by guessing (ids and times can be guessed).
    token: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(16))
    # The SMS service's id for the text (Twilio's MessageSid), which its status callbacks name.
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    credential: Mapped[RegistrationCredential] = relationship(backref=backref("welcome_message", uselist=False))
    events: Mapped[list[DeliveryEvent]] = relationship(
        back_populates="message", order_by="(DeliveryEvent.at, DeliveryEvent.id)", cascade="all, delete-orphan"
    )

    @property
    def status_label(self) -> str:
        return MessageStatus(self.status).label

    @property
    def holds_body(self) -> bool:
        """Whether Retry can still send this very message (its body is not erased yet)."""
        return self.body_encrypted is not None and self.status not in (MessageStatus.SENT, MessageStatus.DELIVERED)

    @property
    def left_us(self) -> bool:
        """Sent or delivered: a mail server or the SMS service took it."""
        return self.status in (MessageStatus.SENT, MessageStatus.DELIVERED)

    def refresh_seconds(self, now: datetime) -> int | None:
        """How often the account page's delivery region refreshes itself while the message's
        state may still move on its own; None: settled. Queued (the worker tries again) and a
        text awaiting its receipt (seconds, usually): 5 s. An email sent within the hour, which
        may still bounce (minutes, usually): 30 s."""
        if self.status == MessageStatus.QUEUED:
            return 5
        if self.status != MessageStatus.SENT or self.sent_at is None or now - self.sent_at >= REPORTS_AWAITED:
            return None
        return 5 if self.channel == Channel.SMS else 30

    @property
    def channel_label(self) -> str:
        return "Email" if self.channel == Channel.EMAIL else "Text message"


class DeliveryEvent(db.Model):
    """One step of a welcome message's journey (models/vocabulary.py DeliveryEventKind), written
    in the transaction of the change it records: the PIN's delivery timeline reads them."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        CheckConstraint(one_of("kind", DeliveryEventKind), name="kind_known"),
        # "Passed to the carrier" is noted once per text, even when two copies of Twilio's `sent`
        # callback arrive together (services/delivery/reports.py).
        Index("uq_delivery_events_carrier_accepted", "message_id", unique=True,
              sqlite_where=text(_CARRIER_ACCEPTED), postgresql_where=text(_CARRIER_ACCEPTED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("welcome_messages.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    # Staff's words for the step: the attempt's number, the reason (a mail server's or the SMS
    # service's, in plain words). Never the message's body.
    detail: Mapped[str | None] = mapped_column(String(500))

    message: Mapped[WelcomeMessage] = relationship(back_populates="events")


class WaitingReceipt(db.Model):
    """A signed delivery receipt from the SMS service for a MessageSid no text of ours holds yet:
    it came before the attempt that sent the text stored the SID, and waits (at most an hour,
    services/delivery/reports.py) to be applied to that text. It names no practice: none is
    known until the text is found."""

    __tablename__ = "sms_receipts_waiting"
    __table_args__ = (UniqueConstraint("provider_id", "status", name="uq_sms_receipts_waiting_provider_id_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


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
