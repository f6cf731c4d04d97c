"""A parent's portal sessions and password-reset links, kept on the server: the cookie or the
link carries a random token, the database only its SHA-256, so a row cannot be replayed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.portal_user import PortalUser
from models.vocabulary import PortalSessionEndReason, one_of


class PortalSession(db.Model):
    """One browser signed in to the Patient Portal. It ends on sign-out, on a password reset, when
    idle too long or too old (services/identity/portal_sessions.py); a copied cookie ends with it."""

    __tablename__ = "portal_sessions"
    __table_args__ = (
        CheckConstraint("last_seen_at >= created_at", name="seen_after_start"),
        CheckConstraint("ended_at IS NULL OR ended_at >= created_at", name="ends_after_start"),
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="end_has_reason"),
        CheckConstraint(f"end_reason IS NULL OR {one_of('end_reason', PortalSessionEndReason)}", name="end_reason_known"),
        Index("ix_portal_sessions_portal_user_id", "portal_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    portal_user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))

    portal_user: Mapped[PortalUser] = relationship()


class PasswordReset(db.Model):
    """A single-use link that sets a new portal password, valid for a short while. Until the
    worker sends it, its email (the link is a secret, like a PIN) waits encrypted in
    `body_encrypted` (services/delivery/message_cipher.py); the body is erased once sent, spent,
    revoked (another reset succeeded) or expired."""

    __tablename__ = "password_resets"
    __table_args__ = (
        CheckConstraint("expires_at > created_at", name="expires_after_start"),
        CheckConstraint("used_at IS NULL OR used_at >= created_at", name="used_after_start"),
        CheckConstraint("revoked_at IS NULL OR revoked_at >= created_at", name="revoked_after_start"),
        CheckConstraint("used_at IS NULL OR revoked_at IS NULL", name="used_or_revoked"),
        CheckConstraint("body_encrypted IS NULL OR (used_at IS NULL AND revoked_at IS NULL)", name="spent_holds_no_body"),
        Index("ix_password_resets_portal_user_id", "portal_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    body_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # When the worker took the message (at most once: a failed send is not retried, the parent asks again).
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    portal_user: Mapped[PortalUser] = relationship()
