"""The audit trail (HIPAA 164.312(b)): who did what to which patient, when, from where.

Append-only: the app only inserts. On PostgreSQL a trigger refuses UPDATE and DELETE (migration
of this table). Rows hold ids and kinds, never PINs, answers, message bodies or search terms;
they keep no foreign keys, so that a row outlives what it names (and no cascade deletes one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import UTCDateTime, db, utcnow
from models.vocabulary import AuditAction, AuditOutcome, one_of


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint(one_of("action", AuditAction), name="action_known"),
        CheckConstraint(one_of("outcome", AuditOutcome), name="outcome_known"),
        Index("ix_audit_events_practice_id_occurred_at", "practice_id", "occurred_at"),
        Index("ix_audit_events_patient_id_occurred_at", "patient_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    practice_id: Mapped[int | None] = mapped_column(Integer)
    staff_id: Mapped[int | None] = mapped_column(Integer)
    # Who, as a name that survives the staff row (a username; never a patient's or parent's name).
    staff_username: Mapped[str | None] = mapped_column(String(150))
    patient_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(10))
    # Kinds and ids only: "filters: last, dob", "by email", "reason: expired token".
    detail: Mapped[str | None] = mapped_column(String(200))
    client_ip: Mapped[str | None] = mapped_column(String(45))
