"""A welcome message's timeline steps (delivery_events), written by the outbox (its attempts)
and by the reports that come back (receipts, bounces)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models import DeliveryEvent


def add_event(session: Session, message_id: int, practice_id: int, kind: str, detail: str | None,
              at: datetime) -> None:
    """One step of a message's journey, in the caller's transaction (its timeline reads them)."""
    session.add(DeliveryEvent(message_id=message_id, practice_id=practice_id, kind=kind,
                              detail=detail and detail[:500], at=at))
