"""What comes back after a message left us: the SMS service's delivery receipts (Twilio's status
callbacks) and mail servers' bounces. Each report that changes what staff see is one unit of
work: the message's new state, its timeline step and an audit row.

A message only moves forward: Sent becomes Delivered or Failed, never the other way, so a
repeated or late report (a `sent` after `delivered`) changes nothing. The change is a
conditional UPDATE on the state it moves from, so two copies of one report arriving together
apply once.

A receipt names its text by the token in its callback URL (services/delivery/sms.py), so one
that comes before the create call's answer has been stored still finds it: the receipt proves the
SMS service took the text, so the text is recorded as gone, with that MessageSid, before the
receipt is applied. The attempt's own record then finds it gone and leaves it as it is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import DeliveryEvent, RegistrationCredential, WelcomeMessage
from models.vocabulary import AuditAction, AuditOutcome, Channel, DeliveryEventKind, MessageStatus
from services import audit
from services.actor import Actor, unit_of_work
from services.delivery.outbox import add_event
from services.delivery.sms import OPTED_OUT, plain_reason


class ReportOutcome(StrEnum):
    APPLIED = "applied"  # the message moved forward, or a new step was noted
    IGNORED = "ignored"  # nothing new: a repeat, a late report, a state that never moves it
    UNKNOWN = "unknown"  # no message of ours (or not for that recipient)


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


def _sms_message(session: Session, token: str | None, provider_id: str) -> WelcomeMessage | None:
    """The text a receipt is for: by the token in its callback URL, when it has one and the text
    has no other MessageSid; else (a text created before callbacks carried it) by the SID."""
    texts = select(WelcomeMessage).where(WelcomeMessage.channel == Channel.SMS)
    if not token:
        return session.scalar(texts.where(WelcomeMessage.provider_id == provider_id))
    message = session.scalar(texts.where(WelcomeMessage.token == token))
    if message is None or message.provider_id not in (None, provider_id):
        return None
    return message


def _record_gone(session: Session, message: WelcomeMessage, provider_id: str, actor: Actor) -> None:
    """A receipt came before the attempt that sent its text was recorded (or after a timeout made
    that attempt look failed): the SMS service has the text, so it is Sent, with this SID, and
    its body is erased, so no retry sends it twice. One transaction, conditional on no SID and no
    send having been recorded, so it happens once whoever comes first."""
    now = actor.now()
    with unit_of_work(session):
        gone = session.execute(
            update(WelcomeMessage)
            .where(WelcomeMessage.id == message.id, WelcomeMessage.provider_id.is_(None),
                   WelcomeMessage.sent_at.is_(None))
            .values(status=MessageStatus.SENT, sent_at=now, provider_id=provider_id, body_encrypted=None,
                    next_attempt_at=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if gone == 1:
            add_event(session, message.id, message.practice_id, DeliveryEventKind.HANDED_OVER,
                      "Handed to the SMS service (its receipt says so).", now)
            audit.record(session, actor, AuditAction.DELIVERY_REPORT, AuditOutcome.SUCCESS,
                         patient_id=_patient_of(session, message),
                         detail=f"text message {message.id} sent (receipt before the attempt's record)")
    session.refresh(message)


def apply_sms_status(session: Session, provider_id: str, status: str, error_code: int | None,
                     clock, token: str | None = None) -> ReportOutcome:
    """One status callback from the SMS service, for the text it calls `provider_id`, whose
    callback URL carried `token` (the message's own)."""
    message = _sms_message(session, token, provider_id)
    if message is None:
        session.rollback()
        return ReportOutcome.UNKNOWN
    actor = Actor.for_command_line(message.practice_id, clock=clock)
    if message.provider_id is None:
        _record_gone(session, message, provider_id, actor)
        if message.provider_id != provider_id:  # another receipt, of another attempt's text, won
            session.rollback()
            return ReportOutcome.IGNORED
    now = actor.now()
    status = status.strip().lower()
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
