"""Failure counts behind the growing delays of services/throttle.py: one row per scope and key,
shared by every process and instance through the database. The key is stored only as a keyed
HMAC (a date of birth or a username typed never lands here as text)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db
from models.vocabulary import ThrottleScope, one_of


class Throttle(db.Model):
    __tablename__ = "throttles"
    __table_args__ = (
        UniqueConstraint("scope", "key_digest", name="uq_throttles_scope_key"),
        CheckConstraint(one_of("scope", ThrottleScope), name="scope_known"),
        CheckConstraint("failures >= 1", name="failures_positive"),
        # Finding rows whose window ended, to forget them.
        Index("ix_throttles_scope_window_started_at", "scope", "window_started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(20))
    key_digest: Mapped[str] = mapped_column(String(64))
    # Failures since window_started_at; counting starts again once the window has passed.
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # No attempt with this key is checked before then (NULL: none refused yet).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
