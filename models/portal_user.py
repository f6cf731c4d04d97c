"""Portal accounts (parents, guardians, teenagers) and the patients they are linked to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import SortableText, UTCDateTime, db, utcnow
from models.patient import Patient
from models.vocabulary import AccessLevel, Audience, one_of


class PortalUser(db.Model):
    __tablename__ = "portal_users"
    __table_args__ = (UniqueConstraint("practice_id", "email", name="uq_portal_users_practice_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    # Stored lower-cased, so the unique constraint and prefix search are case-insensitive.
    email: Mapped[str] = mapped_column(SortableText(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    links: Mapped[list[PortalLink]] = relationship(back_populates="portal_user", order_by="PortalLink.id")


class PortalLink(db.Model):
    """A portal user's access to one patient's account."""

    __tablename__ = "portal_links"
    __table_args__ = (
        UniqueConstraint("portal_user_id", "patient_id", name="uq_portal_links_user_patient"),
        CheckConstraint(one_of("access_level", AccessLevel), name="access_level_known"),
        CheckConstraint(one_of("audience", Audience), name="audience_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portal_user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    access_level: Mapped[str] = mapped_column(String(10))
    # Whose account this is: the parent's or the teenager's own.
    audience: Mapped[str] = mapped_column(String(10), default=Audience.GUARDIAN, server_default=Audience.GUARDIAN.value)
    # The PIN or question that made the link (NULL for links imported from the previous system).
    credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration_credentials.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    portal_user: Mapped[PortalUser] = relationship(back_populates="links")
    patient: Mapped[Patient] = relationship()
