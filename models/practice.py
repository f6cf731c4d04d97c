"""A practice and the staff who work in it."""

from __future__ import annotations

import string
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
# A practice's slug names it in every link a message carries (`PORTAL_URL?practice=SLUG`): lower-case
# ASCII letters and digits in words joined by single hyphens, at most SLUG_MAX_LENGTH. Unique. The
# database holds the rule too (migration 7d3f9a1c2e5b: a CHECK on PostgreSQL, triggers on SQLite).
SLUG_MAX_LENGTH = 40
SLUG_PATTERN = r"[a-z0-9]+(-[a-z0-9]+)*"
# The Terms & Conditions a parent accepts on /portal/register, shown at /portal/terms as plain text
# (paragraphs split at blank lines). Each practice edits its own in Practice Settings; until then,
# this default (migration 589e74b3e0fa fills existing practices with the same words).
TERMS_MAX_LENGTH = 20_000
DEFAULT_TERMS_TEXT = (
    "By creating a Patient Portal account you agree to these terms.\n\n"
    "Use the portal only for yourself and for the patients the practice has linked to your account. "
    "Keep your password to yourself. If you think someone else knows it, use Forgot password? to choose a new one.\n\n"
    "The portal is not for emergencies. For an urgent medical problem, call 911 or the practice.\n\n"
    "The practice may limit what an account can see, or end its access, for example when a patient "
    "becomes a teenager or when a guardian's rights change.\n\n"
    "Questions about these terms? Ask the practice."
)


class Practice(db.Model):
    __tablename__ = "practices"
    __table_args__ = (
        CheckConstraint(
            f"pin_lifetime_days BETWEEN 1 AND {MAX_PIN_LIFETIME_DAYS}", name="pin_lifetime_range"
        ),
        # A unique index rather than a constraint: SQLite adds one without rebuilding the table.
        Index("uq_practices_slug", "slug", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_LENGTH))
    # NULL means "use the deployment's PORTAL_URL".
    portal_url: Mapped[str | None] = mapped_column(String(500))
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    pin_lifetime_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_PIN_LIFETIME_DAYS)
    terms_text: Mapped[str] = mapped_column(Text, server_default=DEFAULT_TERMS_TEXT)
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
