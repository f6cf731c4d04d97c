"""The carrier table: email-to-SMS gateways, some of them shut down (DOMAIN.md)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Carrier


def list_carriers(session: Session) -> list[Carrier]:
    return list(session.scalars(select(Carrier).order_by(Carrier.name)))


def find_carrier_by_name(session: Session, name: str) -> Carrier | None:
    return session.scalar(select(Carrier).where(func.lower(Carrier.name) == name.strip().lower()))


def carrier_option_label(carrier: Carrier, today: date) -> str:
    return f"{carrier.name} (service ended)" if carrier.has_ended(today) else carrier.name


def ended_carrier_reason(carrier: Carrier, alternatives: list[Carrier]) -> str:
    names = ", ".join(c.name for c in alternatives) or "none"
    return (
        f"{carrier.name}'s text gateway shut down on {carrier.ended_on:%B} {carrier.ended_on.day}, "
        f"{carrier.ended_on.year}, so a text message would never arrive. Choose Email Address or "
        f"Print PIN instead, or a carrier whose gateway still works: {names}."
    )


def set_carrier(session: Session, name: str, gateway: str, ended_on: date | None) -> Carrier:
    carrier = find_carrier_by_name(session, name)
    if carrier is None:
        carrier = Carrier(name=name.strip(), gateway=gateway, ended_on=ended_on)
        session.add(carrier)
    else:
        carrier.gateway = gateway
        carrier.ended_on = ended_on
    return carrier
