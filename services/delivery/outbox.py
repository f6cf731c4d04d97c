"""Delivering welcome messages: the inline attempt, Retry, and the `outbox send` worker.

A message row is written, queued, in the same transaction as its PIN (services/credentials/registration.py),
with its body encrypted (services/delivery/message_cipher.py). Every attempt then goes the same way:

1. **Claim** the message: one conditional UPDATE that counts the attempt and sets
   `claimed_until` (and `next_attempt_at`) a lease ahead (CLAIM_LEASE), committed before any SMTP
   traffic. It is conditional on the attempt count that was read and on no live claim, so of two
   claimants (two workers, a worker and a Retry click, two Retry clicks) exactly one wins, on
   either database, a Retry clicked while another attempt is at the mail server sends nothing, and
   no database lock is held while a mail server is slow. On PostgreSQL the worker also picks its candidates with
   `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent workers pass over each other's rows instead of
   queueing on them. On SQLite run a single worker (README): the claim stays correct, but SQLite
   serialises every writer anyway.
2. **Send**, outside any transaction.
3. **Record** the outcome with its audit row, in one transaction, conditional on the claimed
   attempt count, and release the claim: sent (body erased); a permanent failure (SMTP 5xx) or
   the MAX_ATTEMPTS-th temporary one, failed (body erased); a temporary failure (4xx, refused
   connection, timeout), still queued, due again after a backoff of one minute doubling up to
   one hour.

A process killed between the mail server's acceptance and step 3 leaves the message claimed: it
is sent again once the lease runs out (at-least-once delivery: at most one duplicate per crash).

A message whose credential is no longer active (used, revoked, locked or expired) is never sent:
its body is erased and it is marked failed with that reason (`withdraw_messages`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, not_, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models import RegistrationCredential, WelcomeMessage
from models.vocabulary import (
    AuditAction,
    AuditOutcome,
    Channel,
    CredentialKind,
    CredentialState,
    DeliveryEventKind,
    MessageStatus,
)
from services import audit
from services.actor import Actor, unit_of_work
from services.delivery.couriers import Couriers
from services.delivery.events import add_event
from services.delivery.mail_delivery import DeliveryFailed, OutgoingMail
from services.delivery.message_cipher import BodyUnreadable, MessageCipher
from services.delivery.reports import apply_waiting_receipts

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY_DELAY = timedelta(minutes=1)
LONGEST_RETRY_DELAY = timedelta(hours=1)
# Longer than any one attempt can take, so a claimed message is not claimed again while it is
# being sent; and the delay after which a message whose sender died is picked up again.
CLAIM_LEASE = timedelta(minutes=5)


class AttemptOutcome(StrEnum):
    """What one attempt came to; the value is what the log and the audit detail say."""

    SENT = "sent"
    RETRY_LATER = "retry later"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    TAKEN = "taken"


# Short names, as the callers know them.
SENT, RETRY_LATER, FAILED, WITHDRAWN, TAKEN = AttemptOutcome

_NOT_ACTIVE_WORDING = {
    CredentialState.USED: "was used",
    CredentialState.REVOKED: "was revoked",
    CredentialState.LOCKED: "was locked",
    CredentialState.EXPIRED: "expired",
}


def retry_delay(attempts: int) -> timedelta:
    """How long after the `attempts`-th failed attempt the next one is due: 1, 2, 4 … 60 minutes."""
    return min(FIRST_RETRY_DELAY * 2 ** max(attempts - 1, 0), LONGEST_RETRY_DELAY)


def withdrawn_reason(kind: str, state: str) -> str:
    noun = CredentialKind(kind).noun
    return f"Not sent: the {noun} {_NOT_ACTIVE_WORDING.get(state, 'is no longer active')} before it could be delivered."


def withdraw_messages(session: Session, credential_ids: Iterable[int], reason: str, now: datetime) -> None:
    """Erase the bodies of these credentials' messages; a queued one becomes failed with `reason`.
    Part of the caller's transaction (no commit)."""
    ids = list(credential_ids)
    if not ids:
        return
    queued = WelcomeMessage.status == MessageStatus.QUEUED
    given_up = session.execute(
        select(WelcomeMessage.id, WelcomeMessage.practice_id).where(WelcomeMessage.credential_id.in_(ids), queued)
    ).all()
    session.execute(
        update(WelcomeMessage)
        .where(WelcomeMessage.credential_id.in_(ids), or_(queued, WelcomeMessage.body_encrypted.is_not(None)))
        .values(
            body_encrypted=None,
            next_attempt_at=None,
            # A plain string: a literal in a CASE has no column type to bind an enum member by.
            status=case((queued, MessageStatus.FAILED.value), else_=WelcomeMessage.status),
            last_error=case((queued, reason), else_=WelcomeMessage.last_error),
        )
        .execution_options(synchronize_session=False)
    )
    for message_id, practice_id in given_up:
        add_event(session, message_id, practice_id, DeliveryEventKind.FAILED, reason, now)


def claim(session: Session, message: WelcomeMessage, now: datetime) -> int | None:
    """Take `message` for one attempt (see the module's docstring). Commits. Returns the attempt's
    number, or None when someone else took it, it was sent, or its body is gone."""
    seen = message.attempts
    claimed = session.execute(
        update(WelcomeMessage)
        .where(
            WelcomeMessage.id == message.id,
            WelcomeMessage.attempts == seen,
            WelcomeMessage.status.not_in((MessageStatus.SENT, MessageStatus.DELIVERED)),
            WelcomeMessage.body_encrypted.is_not(None),
            or_(WelcomeMessage.claimed_until.is_(None), WelcomeMessage.claimed_until <= now),
        )
        .values(
            status=MessageStatus.QUEUED, attempts=seen + 1, next_attempt_at=now + CLAIM_LEASE, claimed_until=now + CLAIM_LEASE
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return seen + 1 if claimed == 1 else None


@dataclass(frozen=True)
class Attempt:
    """Who asked for an attempt (the staff member who issued or pressed Retry, or the worker),
    when (`on issue`, `retry`, `worker`, for the audit trail), and the patient it concerns."""

    actor: Actor
    when: str
    patient_id: int


def _handed_to(channel: str) -> str:
    return {Channel.SMS: "the SMS service", Channel.TEXT: "the mail server (the carrier's text gateway)"}.get(
        channel, "the mail server"
    )


def record(session: Session, message: WelcomeMessage, number: int, failure: DeliveryFailed | None,
           asked: Attempt, provider_id: str | None = None) -> str:
    """Store the outcome of attempt number `number`, with its audit row and its timeline step, in
    one transaction. Returns SENT, RETRY_LATER or FAILED (TAKEN when the message changed hands
    meanwhile, e.g. it was withdrawn or its lease ran out). `provider_id`: the SMS service's id
    for the text it took, which its delivery receipts name."""
    message_id, practice_id, now = message.id, message.practice_id, asked.actor.now()
    mine = [WelcomeMessage.id == message_id, WelcomeMessage.attempts == number]
    if failure is None:
        # Recorded even if the PIN was revoked, or the lease ran out, meanwhile: the message did
        # go out. Not over a message already recorded as gone (its receipt may have come first,
        # services/delivery/reports.py), which would move a Delivered one back to Sent.
        mine = [WelcomeMessage.id == message_id, WelcomeMessage.sent_at.is_(None)]
        values = {"status": MessageStatus.SENT, "sent_at": now, "body_encrypted": None, "next_attempt_at": None,
                  "claimed_until": None, "provider_id": provider_id}
        outcome = SENT
    elif failure.permanent or number >= MAX_ATTEMPTS:
        mine.append(WelcomeMessage.status == MessageStatus.QUEUED)
        values = {
            "status": MessageStatus.FAILED, "last_error": failure.reason, "body_encrypted": None,
            "next_attempt_at": None, "claimed_until": None,
        }
        outcome = FAILED
    else:
        mine.append(WelcomeMessage.status == MessageStatus.QUEUED)
        values = {"last_error": failure.reason, "next_attempt_at": now + retry_delay(number), "claimed_until": None}
        outcome = RETRY_LATER
    channel = "email" if message.channel == Channel.EMAIL else "text message"
    with unit_of_work(session):
        changed = session.execute(
            update(WelcomeMessage).where(*mine).values(**values).execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            outcome = SENT if failure is None else TAKEN
        if outcome == TAKEN:
            _audit_refusal(session, message, asked, TAKEN)
        else:
            status = {SENT: MessageStatus.SENT, RETRY_LATER: MessageStatus.QUEUED, FAILED: MessageStatus.FAILED}[outcome]
            audit.record(session, asked.actor, AuditAction.SEND,
                         AuditOutcome.SUCCESS if outcome == SENT else AuditOutcome.FAILURE,
                         patient_id=asked.patient_id, detail=f"{channel} {message_id} {status} ({asked.when})")
            if changed == 1:
                add_event(session, message_id, practice_id, *_attempt_step(message.channel, number, failure, outcome,
                                                                         values.get("next_attempt_at")), now)
    return outcome


def _attempt_step(channel: str, number: int, failure: DeliveryFailed | None, outcome: str,
                  next_attempt_at: datetime | None) -> tuple[str, str]:
    """The timeline's kind and words for one attempt."""
    if failure is None:
        return DeliveryEventKind.HANDED_OVER, f"Attempt {number}: handed to {_handed_to(channel)}."
    if outcome == RETRY_LATER:
        return DeliveryEventKind.RETRY_LATER, f"Attempt {number}: {failure.reason}"
    kind = DeliveryEventKind.OPTED_OUT if failure.opted_out else DeliveryEventKind.FAILED
    given_up = "" if failure.permanent else f" Given up after {number} attempts."
    return kind, f"Attempt {number}: {failure.reason}{given_up}"


def _withdraw_if_inactive(session: Session, message: WelcomeMessage, asked: Attempt) -> bool:
    credential = message.credential
    state = credential.state(asked.actor.now())
    if state == CredentialState.ACTIVE:
        return False
    with unit_of_work(session):
        withdraw_messages(session, [credential.id], withdrawn_reason(credential.kind, state), asked.actor.now())
        _audit_refusal(session, message, asked, WITHDRAWN)
    return True


def _audit_refusal(session: Session, message: WelcomeMessage, asked: Attempt, outcome: str) -> None:
    """Staff asked for a send that did not happen (its PIN is no longer active, or someone else
    is sending it): the trail says so. The worker's passes over such messages are not events."""
    if asked.when != "worker":
        audit.record(session, asked.actor, AuditAction.SEND, AuditOutcome.REFUSED, patient_id=asked.patient_id,
                     detail=f"message {message.id} {asked.when}: {outcome}")


def message_reference(token: str) -> str:
    """What names a message in its Message-ID (<welcome.TOKEN@domain>): its random token, the
    same on every attempt, so a duplicate after a crash can be dropped and a bounce found."""
    return f"welcome.{token}"


def attempt(
    session: Session,
    message: WelcomeMessage,
    couriers: Couriers,
    cipher: MessageCipher,
    asked: Attempt,
    mail: OutgoingMail | None = None,
) -> str:
    """One attempt to send `message` now: the inline attempt (which passes the composed `mail`),
    Retry and the worker. Never inside a transaction while the mail server or the SMS service
    talks. Returns SENT, RETRY_LATER, FAILED, WITHDRAWN or TAKEN."""
    if _withdraw_if_inactive(session, message, asked):
        return WITHDRAWN
    message_id, practice_id, recipient = message.id, message.practice_id, message.recipient
    reference, courier = message_reference(message.token), couriers.for_channel(message.channel)
    body = message.body_encrypted
    number = claim(session, message, asked.actor.now())
    if number is None:
        with unit_of_work(session):
            _audit_refusal(session, message, asked, TAKEN)
        return TAKEN
    failure = provider_id = None
    try:
        if mail is None:
            mail = cipher.decrypt(message_id, recipient, body)
        provider_id = courier.send(replace(mail, reference=reference), practice_id)
    except BodyUnreadable as unreadable:
        failure = DeliveryFailed(str(unreadable), permanent=True)
    except DeliveryFailed as failed:
        failure = failed
    outcome = record(session, message, number, failure, asked, provider_id)
    log.info("welcome message %s attempt %s: %s", message_id, number, outcome)
    if outcome == SENT and provider_id:
        # Receipts that came before the SID was stored (services/delivery/reports.py). The text
        # is sent and recorded: a database error here must not turn that into a failed request
        # (those receipts are then lost, as before they could wait; later ones still apply).
        try:
            apply_waiting_receipts(session, provider_id, asked.actor.clock)
        except SQLAlchemyError as error:
            session.rollback()
            log.warning("welcome message %s: waiting receipts not applied (%s)", message_id, type(error).__name__)
    return outcome


@dataclass
class OutboxReport:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0
    withdrawn: int = 0

    def add(self, outcome: str) -> None:
        name = {SENT: "sent", RETRY_LATER: "retry_later", FAILED: "failed", WITHDRAWN: "withdrawn"}.get(outcome)
        if name:
            setattr(self, name, getattr(self, name) + 1)


def _for_update(query, session: Session):
    """PostgreSQL: lock what we pick, and pass over rows another worker has locked."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=WelcomeMessage)
    return query


def withdraw_inactive(session: Session, now: datetime) -> int:
    """Erase every held body whose credential is no longer active (used, revoked, locked,
    expired), due or not; a queued message becomes failed with the reason. Commits."""
    query = (
        select(WelcomeMessage)
        .join(WelcomeMessage.credential)
        .where(WelcomeMessage.body_encrypted.is_not(None), not_(RegistrationCredential.active_condition(now)))
    )
    withdrawn = 0
    for message in session.scalars(_for_update(query, session)).all():
        credential = message.credential
        withdraw_messages(session, [credential.id], withdrawn_reason(credential.kind, credential.state(now)), now)
        withdrawn += 1
    session.commit()
    return withdrawn


def send_due_messages(session: Session, couriers: Couriers, cipher: MessageCipher, now: datetime,
                      limit: int | None = None) -> OutboxReport:
    """One pass of `outbox send`: withdraw messages of inactive credentials, then send every
    queued message due by `now`, one at a time (each claimed, sent, recorded)."""
    report = OutboxReport()
    report.withdrawn += withdraw_inactive(session, now)
    handled = 0
    taken: list[int] = []  # claimed by someone else since we picked them: not again this pass
    while limit is None or handled < limit:
        query = (
            select(WelcomeMessage)
            .where(
                WelcomeMessage.status == MessageStatus.QUEUED,
                WelcomeMessage.body_encrypted.is_not(None),
                or_(WelcomeMessage.next_attempt_at.is_(None), WelcomeMessage.next_attempt_at <= now),
                or_(WelcomeMessage.claimed_until.is_(None), WelcomeMessage.claimed_until <= now),
                WelcomeMessage.id.not_in(taken),
            )
            .order_by(WelcomeMessage.next_attempt_at, WelcomeMessage.id)
            .limit(1)
        )
        message = session.scalar(_for_update(query, session))
        if message is None:
            session.rollback()
            break
        handled += 1
        # The claim inside commits, which releases the row lock: from then on the claim's lease
        # keeps other workers away (the row is no longer due).
        message_id = message.id
        worker = Actor.for_command_line(message.practice_id, clock=lambda: now)
        outcome = attempt(session, message, couriers, cipher, Attempt(worker, "worker", message.credential.patient_id))
        if outcome == TAKEN:
            taken.append(message_id)
        report.add(outcome)
    return report


def find_patient_message(session: Session, practice_id: int, patient_id: int, message_id: int) -> WelcomeMessage | None:
    """One of the practice's welcome messages, if it is for this patient's credential."""
    return session.scalar(
        select(WelcomeMessage)
        .join(WelcomeMessage.credential)
        .where(
            WelcomeMessage.id == message_id,
            WelcomeMessage.practice_id == practice_id,
            RegistrationCredential.patient_id == patient_id,
        )
    )


def retry_message(session: Session, actor: Actor, message: WelcomeMessage, couriers: Couriers,
                  cipher: MessageCipher) -> str:
    """Retry: send this very message again now, while its body is still held. Each outcome is
    audited as the attempt is recorded (a send that could not happen, as refused)."""
    if message.practice_id != actor.practice_id:
        raise ValueError("message belongs to another practice")
    return attempt(session, message, couriers, cipher, Attempt(actor, "retry", message.credential.patient_id))
