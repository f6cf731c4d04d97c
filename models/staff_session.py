"""Staff sessions kept on the server, so that signing out (or an admin) ends them for good, and
the launch tokens already spent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.practice import Practice, StaffUser
from models.vocabulary import SessionVia, one_of


class StaffSession(db.Model):
    """One signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so
    the table's rows cannot be replayed as cookies. A session ends when it is revoked (sign-out),
    idle too long, or too old (services/identity/staff_sessions.py)."""

    __tablename__ = "staff_sessions"
    __table_args__ = (
        CheckConstraint(one_of("via", SessionVia), name="via_known"),
        CheckConstraint("last_seen_at >= created_at", name="seen_after_start"),
        CheckConstraint("ended_at IS NULL OR ended_at >= created_at", name="ends_after_start"),
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="end_has_reason"),
        Index("ix_staff_sessions_staff_id", "staff_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    # The practice chosen for this session; NULL until a staff member of several practices chooses.
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    via: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))

    staff: Mapped[StaffUser] = relationship()
    practice: Mapped[Practice | None] = relationship()


class SpentLaunchToken(db.Model):
    """A launch token's `jti`, once accepted: a replay is refused. Rows older than a token's
    lifetime can go (the token's own timestamp refuses it then)."""

    __tablename__ = "spent_launch_tokens"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    spent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
