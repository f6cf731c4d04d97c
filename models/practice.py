"""A practice and the staff who work in it."""

from __future__ import annotations

import string
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow

DEFAULT_PIN_LIFETIME_DAYS = 7
MAX_PIN_LIFETIME_DAYS = 90
# A staff username is visible ASCII: no lookalike (fullwidth `＝`), zero-width or bidi character can
# make two names read alike, on screen or in the audit trail. The database holds the same rule for
# every new or renamed login (triggers of migration 5b1e0c9d2a7f).
USERNAME_CHARACTERS = string.ascii_letters + string.digits + "._@-"
USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 64


class Practice(db.Model):
    __tablename__ = "practices"
    __table_args__ = (
        CheckConstraint(
            f"pin_lifetime_days BETWEEN 1 AND {MAX_PIN_LIFETIME_DAYS}", name="pin_lifetime_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # NULL means "use the deployment's PORTAL_URL".
    portal_url: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    pin_lifetime_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_PIN_LIFETIME_DAYS)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffUser(db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[StaffMembership]] = relationship(back_populates="staff")


class StaffMembership(db.Model):
    """Which practices a staff member works in, and whether as a practice admin."""

    __tablename__ = "staff_memberships"
    __table_args__ = (UniqueConstraint("staff_id", "practice_id", name="uq_staff_memberships_staff_practice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)

    staff: Mapped[StaffUser] = relationship(back_populates="memberships")
    practice: Mapped[Practice] = relationship()
