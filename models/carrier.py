"""Mobile carriers and their email-to-SMS gateways. Data, kept with `flask carriers`."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import db


class Carrier(db.Model):
    __tablename__ = "carriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    gateway: Mapped[str] = mapped_column(String(253))
    # The last day the gateway delivered; NULL while it works.
    ended_on: Mapped[date | None] = mapped_column(Date)

    def has_ended(self, today: date) -> bool:
        return self.ended_on is not None and self.ended_on <= today
