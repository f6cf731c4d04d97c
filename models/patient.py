"""A patient of a practice, as imported from the practice-management system."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import SortableText, UTCDateTime, db, utcnow
from models.carrier import Carrier
from models.names import clean_name, normalize_name, search_key, surname_part_key
from models.practice import Practice
from models.vocabulary import PortalStatus, one_of

IMPORTED_PORTAL_STATUSES = tuple(PortalStatus)


class Patient(db.Model):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("practice_id", "chart_number", name="uq_patients_practice_chart"),
        # Serve name searches, in the results' order (services.patients.patient_search): prefixes
        # of the search keys (models.names.search_key), the last name's whole key or its last
        # part's (surname_part_key), and the first name's. A search without names (status only)
        # walks the first with its LIMIT.
        Index("ix_patients_practice_last_key", "practice_id", "last_name_key", "first_name_key"),
        Index("ix_patients_practice_last_part_key", "practice_id", "last_name_part_key"),
        Index("ix_patients_practice_first_key", "practice_id", "first_name_key"),
        # A date-of-birth search: the equality and the name order from one index (no sort, and no
        # walk of the whole practice in name order, which SQLite chose without statistics).
        Index("ix_patients_practice_dob_key", "practice_id", "date_of_birth", "last_name_key", "first_name_key"),
        # Portal redemption counts a wrong PIN against every pending PIN of that birth date,
        # across practices: without this index that update scans all patients (a timing leak).
        Index("ix_patients_dob", "date_of_birth"),
        CheckConstraint(one_of("imported_portal_status", PortalStatus), name="imported_portal_status_known"),
        CheckConstraint("length(first_name) > 0 AND length(last_name) > 0", name="names_present"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    chart_number: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Lower-cased, accent-free, single-spaced copies of the names (models.names.normalize_name,
    # the unofficial-name guard's rule, which needs the spaces); the portal lists children by them.
    first_name_norm: Mapped[str] = mapped_column(SortableText(100))
    last_name_norm: Mapped[str] = mapped_column(SortableText(100))
    # What search matches by prefix and orders by: the names without accents, case, punctuation or
    # spaces, and a multi-part surname's last part ('' for one part). models.names.search_key,
    # surname_part_key.
    first_name_key: Mapped[str] = mapped_column(SortableText(100))
    last_name_key: Mapped[str] = mapped_column(SortableText(100))
    last_name_part_key: Mapped[str] = mapped_column(SortableText(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    guardian_email: Mapped[str | None] = mapped_column(String(254))
    guardian_cell: Mapped[str | None] = mapped_column(String(10))
    guardian_cell_carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"))
    # The status the previous system reported; the shown status is derived (services.patients.portal_status).
    imported_portal_status: Mapped[str] = mapped_column(String(20), default=PortalStatus.UNREGISTERED)
    name_is_unofficial: Mapped[bool] = mapped_column(Boolean, default=False)
    # The portal status's two live inputs, kept by database triggers (migration c7a4e1f2b9d0) from
    # portal_links and registration_credentials, so search filters on columns instead of
    # subqueries. Never written by the app; read through services.patients.portal_status.
    portal_linked: Mapped[bool] = mapped_column(Boolean, server_default=false())
    pin_active_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    practice: Mapped[Practice] = relationship()
    guardian_cell_carrier: Mapped[Carrier | None] = relationship()

    @staticmethod
    def name_columns(first_name: str, last_name: str) -> dict[str, str]:
        """Both names, cleaned (models.names.clean_name), with their normalised copies and search
        keys: the seven columns together, so they never disagree (set_names, and the import's bulk
        INSERT)."""
        first, last = clean_name(first_name), clean_name(last_name)
        return {"first_name": first, "last_name": last,
                "first_name_norm": normalize_name(first), "last_name_norm": normalize_name(last),
                "first_name_key": search_key(first), "last_name_key": search_key(last),
                "last_name_part_key": surname_part_key(last)}

    def set_names(self, first_name: str, last_name: str) -> None:
        for column, value in self.name_columns(first_name, last_name).items():
            setattr(self, column, value)

    @property
    def display_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"
