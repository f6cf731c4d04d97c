"""What comes back after a message left us: the SMS service's delivery receipts (Twilio's status
callbacks) and mail servers' bounces. Each report that changes what staff see is one unit of
work: the message's new state, its timeline step and an audit row.

A message only moves forward: Sent becomes Delivered or Failed, never the other way, so a
repeated or late report (a `sent` after `delivered`) changes nothing. The change is a
conditional UPDATE on the state it moves from, so two copies of one report arriving together
apply once.

A receipt can come before the attempt that sent its text has stored the text's MessageSid (Twilio
may post `sent` or `delivered` while the create call's answer is still on its way). A signed
receipt for a SID we do not know is therefore kept a while (sms_receipts_waiting), and applied,
in order, once the attempt records that SID (services/delivery/outbox.py `attempt`); a receipt
whose text never turns up (another application's text on the same Twilio account) is dropped
after WAITING_KEPT. Such a row belongs to no practice until its text is found, so it is written
with no audit row: what it changes is audited when it is applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import DeliveryEvent, RegistrationCredential, WaitingReceipt, WelcomeMessage
from models.vocabulary import AuditAction, AuditOutcome, Channel, DeliveryEventKind, MessageStatus
from services import audit
from services.actor import Actor, unit_of_work
from services.delivery.events import add_event
from services.delivery.sms import OPTED_OUT, plain_reason


class ReportOutcome(StrEnum):
    APPLIED = "applied"  # the message moved forward, or a new step was noted
    IGNORED = "ignored"  # nothing new: a repeat, a late report, a state that never moves it
    UNKNOWN = "unknown"  # no message of ours (or not for that recipient)
    WAITING = "waiting"  # a receipt for a text whose SID is not stored yet: kept for it


# Twilio's MessageStatus values that mean the text arrived, or will not.
_DELIVERED = {"delivered", "read"}
_NOT_DELIVERED = {"undelivered", "failed"}


def _move_forward(session: Session, message: WelcomeMessage, values: dict, kind: str, detail: str,
                  actor: Actor, audit_detail: str, outcome: str) -> ReportOutcome:
    """Sent -> `values` (Delivered or Failed), with its step and audit row: one transaction."""
    now = actor.now()
    with unit_of_work(session):
        moved = session.execute(
            update(WelcomeMessage)
            .where(WelcomeMessage.id == message.id, WelcomeMessage.status == MessageStatus.SENT)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved != 1:
            return ReportOutcome.IGNORED
        add_event(session, message.id, message.practice_id, kind, detail, now)
        audit.record(session, actor, AuditAction.DELIVERY_REPORT, outcome,
                     patient_id=_patient_of(session, message), detail=audit_detail)
    return ReportOutcome.APPLIED


def _patient_of(session: Session, message: WelcomeMessage) -> int:
    return session.scalar(select(RegistrationCredential.patient_id).where(RegistrationCredential.id == message.credential_id))


def _noted_before(session: Session, message_id: int, kind: str) -> bool:
    return bool(session.scalar(
        select(exists().where(DeliveryEvent.message_id == message_id, DeliveryEvent.kind == kind))
    ))


def _sms_message(session: Session, provider_id: str) -> WelcomeMessage | None:
    return session.scalar(
        select(WelcomeMessage).where(WelcomeMessage.provider_id == provider_id, WelcomeMessage.channel == Channel.SMS)
    )


WAITING_KEPT = timedelta(hours=1)
# The order waiting receipts are applied in: the carrier's `sent` before the final word.
_ORDER = {"queued": 0, "accepted": 0, "sending": 0, "sent": 1}


def _keep_for_later(session: Session, provider_id: str, status: str, error_code: int | None, now: datetime) -> None:
    """Keep a receipt for a SID not stored yet (see the module's docstring); a repeat once."""
    try:
        with unit_of_work(session):
            session.execute(delete(WaitingReceipt).where(WaitingReceipt.received_at < now - WAITING_KEPT))
            session.add(WaitingReceipt(provider_id=provider_id, status=status, error_code=error_code, received_at=now))
    except IntegrityError:
        pass  # the same receipt, already waiting


def apply_waiting_receipts(session: Session, provider_id: str, clock) -> ReportOutcome:
    """Apply the receipts kept for this SID, in order, now that its text has it; then forget them."""
    waiting = session.execute(
        select(WaitingReceipt.id, WaitingReceipt.status, WaitingReceipt.error_code)
        .where(WaitingReceipt.provider_id == provider_id)
        .order_by(WaitingReceipt.received_at, WaitingReceipt.id)
    ).all()
    session.rollback()
    outcome = ReportOutcome.IGNORED
    for _, status, error_code in sorted(waiting, key=lambda row: _ORDER.get(row.status, 2)):
        if apply_sms_status(session, provider_id, status, error_code, clock, keep=False) == ReportOutcome.APPLIED:
            outcome = ReportOutcome.APPLIED
    if waiting:
        with unit_of_work(session):
            session.execute(delete(WaitingReceipt).where(WaitingReceipt.id.in_([row.id for row in waiting])))
    return outcome


def apply_sms_status(session: Session, provider_id: str, status: str, error_code: int | None,
                     clock, keep: bool = True) -> ReportOutcome:
    """One status callback from the SMS service, for the text it calls `provider_id`. A SID not
    stored yet: the receipt waits for it (`keep`), unless its text was recorded meanwhile."""
    status = status.strip().lower()
    message = _sms_message(session, provider_id)
    if message is None:
        session.rollback()
        if not keep:
            return ReportOutcome.UNKNOWN
        _keep_for_later(session, provider_id, status, error_code, clock())
        # The attempt may have stored the SID between our look and our keeping: then its own
        # look at the waiting receipts came too early, and this one applies them.
        if _sms_message(session, provider_id) is None:
            session.rollback()
            return ReportOutcome.WAITING
        return apply_waiting_receipts(session, provider_id, clock)
    actor = Actor.for_command_line(message.practice_id, clock=clock)
    now = actor.now()
    if status in _DELIVERED:
        return _move_forward(
            session, message, {"status": MessageStatus.DELIVERED, "delivered_at": now}, DeliveryEventKind.DELIVERED,
            "The carrier reports it reached the phone.", actor,
            f"text message {message.id} delivered (receipt)", AuditOutcome.SUCCESS,
        )
    if status in _NOT_DELIVERED:
        reason = plain_reason(error_code)
        kind = DeliveryEventKind.OPTED_OUT if error_code == OPTED_OUT else DeliveryEventKind.UNDELIVERED
        return _move_forward(
            session, message, {"status": MessageStatus.FAILED, "last_error": reason}, kind,
            reason, actor, f"text message {message.id} failed (receipt, error {error_code})",
            AuditOutcome.FAILURE,
        )
    if status == "sent" and message.status == MessageStatus.SENT:
        # The carrier took it: a step worth seeing while no receipt has come, noted once (a unique
        # index holds that when two copies of the callback arrive together).
        try:
            with unit_of_work(session):
                if _noted_before(session, message.id, DeliveryEventKind.CARRIER_ACCEPTED):
                    return ReportOutcome.IGNORED
                add_event(session, message.id, message.practice_id, DeliveryEventKind.CARRIER_ACCEPTED,
                          "The SMS service passed it to the carrier.", now)
        except IntegrityError:
            return ReportOutcome.IGNORED
        return ReportOutcome.APPLIED
    session.rollback()
    return ReportOutcome.IGNORED


@dataclass(frozen=True)
class Bounce:
    """What a bounce says of one recipient: the token of the message it bounced (from that
    message's Message-ID), the address that failed, permanent or not, and why in plain words."""

    token: str
    recipient: str
    permanent: bool
    reason: str


def apply_bounce(session: Session, bounce: Bounce, clock) -> ReportOutcome:
    """A bounce of one of our emails (or carrier-gateway texts), matched by its message's token
    and only when the bounced address is the one it was sent to. Permanent: Sent becomes Failed
    with the reason. Temporary: the delay is noted on the timeline, nothing else changes."""
    message = session.scalar(select(WelcomeMessage).where(WelcomeMessage.token == bounce.token))
    if (message is None or message.channel == Channel.SMS
            or message.recipient.strip().lower() != bounce.recipient.strip().lower()):
        session.rollback()
        return ReportOutcome.UNKNOWN
    actor = Actor.for_command_line(message.practice_id, clock=clock)
    what = "email" if message.channel == Channel.EMAIL else "text message"
    if bounce.permanent:
        return _move_forward(
            session, message, {"status": MessageStatus.FAILED, "last_error": bounce.reason}, DeliveryEventKind.BOUNCED,
            bounce.reason, actor, f"{what} {message.id} failed (bounce)", AuditOutcome.FAILURE,
        )
    if message.status != MessageStatus.SENT:
        session.rollback()
        return ReportOutcome.IGNORED
    with unit_of_work(session):
        add_event(session, message.id, message.practice_id, DeliveryEventKind.DELAYED,
                  f"{bounce.reason}. The mail server keeps trying.", actor.now())
    return ReportOutcome.APPLIED
