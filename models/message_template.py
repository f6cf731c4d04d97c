"""A practice's own wording for its PIN welcome messages (email, text message, printed letter)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db, utcnow
from models.vocabulary import TemplateKind, one_of

SUBJECT_MAX_LENGTH = 200
BODY_MAX_LENGTH = 4000


class MessageTemplate(db.Model):
    """At most one per practice and kind; without one the built-in wording is used.
    Saved only after the checks in services/delivery/message_templates.py (README: The outside contract)."""

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("practice_id", "kind", name="uq_message_templates_practice_kind"),
        CheckConstraint(one_of("kind", TemplateKind), name="kind_known"),
        # Only an email has a subject (a text message is sent with an empty one).
        CheckConstraint(f"(kind = '{TemplateKind.EMAIL}') = (subject IS NOT NULL)", name="subject_only_for_email"),
        CheckConstraint(f"length(body) BETWEEN 1 AND {BODY_MAX_LENGTH}", name="body_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str | None] = mapped_column(String(SUBJECT_MAX_LENGTH))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
