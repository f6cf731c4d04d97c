"""Registration credentials: a PIN or a verification question issued to one recipient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, and_, text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from models.base import UTCDateTime, db, utcnow
from models.patient import Patient
from models.practice import StaffUser
from models.vocabulary import AccessLevel, Audience, CredentialKind, CredentialState, SendBy, one_of

MAX_FAILED_ATTEMPTS = 5  # also in the trigger of migration c7a4e1f2b9d0 (patients.pin_active_until)

# "Active" as far as an index can know: not used and not revoked (expiry needs now()).
NOT_USED_NOR_REVOKED = "used_at IS NULL AND revoked_at IS NULL"


class RegistrationCredential(db.Model):
    __tablename__ = "registration_credentials"
    __table_args__ = (
        # At most one live credential per patient and audience; issuing anew revokes the old one.
        Index(
            "uq_registration_credentials_one_active",
            "patient_id",
            "audience",
            unique=True,
            sqlite_where=text(NOT_USED_NOR_REVOKED),
            postgresql_where=text(NOT_USED_NOR_REVOKED),
        ),
        # A window's idempotency key issues one credential, however often it is submitted.
        UniqueConstraint("practice_id", "idempotency_key", name="uq_registration_credentials_idempotency"),
        Index("ix_registration_credentials_pin_bucket", "pin_bucket"),
        Index("ix_registration_credentials_instead_of_id", "instead_of_id", unique=True),
        CheckConstraint(one_of("kind", CredentialKind), name="kind_known"),
        CheckConstraint(one_of("audience", Audience), name="audience_known"),
        CheckConstraint(one_of("access_level", AccessLevel), name="access_level_known"),
        CheckConstraint(one_of("send_by", SendBy), name="send_by_known"),
        CheckConstraint(
            f"(kind = '{CredentialKind.PIN}' AND pin_hash IS NOT NULL AND pin_bucket IS NOT NULL AND question IS NULL)"
            f" OR (kind = '{CredentialKind.QUESTION}' AND question IS NOT NULL AND answer_hash IS NOT NULL"
            " AND pin_hash IS NULL)",
            name="secret_matches_kind",
        ),
        CheckConstraint("expires_at > issued_at", name="expires_after_issue"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),
        CheckConstraint("revoked_at IS NULL OR revoked_reason IS NOT NULL", name="revocation_has_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    audience: Mapped[str] = mapped_column(String(10))
    access_level: Mapped[str] = mapped_column(String(10))
    # Salted one-way hash of the normalised PIN, and a 16-bit keyed-HMAC lookup bucket.
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    pin_bucket: Mapped[int | None] = mapped_column(Integer)
    question: Mapped[str | None] = mapped_column(String(200))
    answer_hash: Mapped[str | None] = mapped_column(String(255))
    send_by: Mapped[str] = mapped_column(String(10))
    # Where the welcome message went, masked (j•••@example.com); never the full address.
    sent_to_masked: Mapped[str | None] = mapped_column(String(120))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    # Print, Text or Email instead: the credential whose welcome message did not arrive, which this
    # one replaced. Unique: one way forward per undelivered message, however often it is pressed.
    instead_of_id: Mapped[int | None] = mapped_column(ForeignKey("registration_credentials.id", ondelete="SET NULL"))

    patient: Mapped[Patient] = relationship()
    issued_by: Mapped[StaffUser | None] = relationship()
    instead_of: Mapped[RegistrationCredential | None] = relationship(
        remote_side=[id], backref=backref("replaced_by", uselist=False)
    )

    def state(self, now: datetime) -> CredentialState:
        """The credential's own state: Active, Used, Revoked, Locked or Expired."""
        if self.used_at is not None:
            return CredentialState.USED
        if self.revoked_at is not None:
            return CredentialState.REVOKED
        if self.failed_attempts >= MAX_FAILED_ATTEMPTS:
            return CredentialState.LOCKED
        if self.expires_at <= now:
            return CredentialState.EXPIRED
        return CredentialState.ACTIVE

    @property
    def noun(self) -> str:
        """'PIN' or 'verification question', as a sentence names this credential."""
        return CredentialKind(self.kind).noun

    @property
    def kind_label(self) -> str:
        """'PIN' or 'Verification Question', as a heading names it."""
        return CredentialKind(self.kind).label

    @property
    def audience_label(self) -> str:
        return Audience(self.audience).label

    @classmethod
    def active_condition(cls, now: datetime):
        """SQL for 'can still be redeemed': unused, unrevoked, unlocked, unexpired."""
        return and_(
            cls.used_at.is_(None),
            cls.revoked_at.is_(None),
            cls.failed_attempts < MAX_FAILED_ATTEMPTS,
            cls.expires_at > now,
        )
