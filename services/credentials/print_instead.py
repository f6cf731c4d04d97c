"""A way forward from every undelivered welcome message: Print instead, Text instead, Email instead.

Each replaces the PIN that did not arrive with a fresh one by another road: printed at the desk
(`Do not send PIN`), or sent by text or by email to a contact on file for that recipient. A PIN is
shown only once, so the undelivered one cannot be reused: a new PIN is issued (same recipient and
access), which revokes the old one as replaced and withdraws its message if it is still held,
and records which credential it stands in for (`instead_of_id`, unique: one way forward per
undelivered PIN). The timeline of each names the other.

Print instead is offered for the latest credential of an audience whose message is not sent
(queued or failed), while that credential is Active or Expired (it lapsed undelivered). Text and
Email instead are offered for a Failed message when a contact for that road, other than the one
that failed, is on file for that recipient: for the Parent/Guardian the patient's
guardian contact (or one a guardian message went to), for the Minor only a contact a message to
the minor went to, so a teenager's PIN never falls back to a guardian's email or cell. Never for a
Used one (the parent registered), a Revoked one (staff ended it, with a reason) or a Locked one
(wrong attempts to look into first): those are issued anew with Register Patient.

One press issues one PIN: the idempotency key is derived from the message's id and the road, so
a double click or a resent POST gets AlreadyIssued. The failed PIN is checked again under the
patient's lock as it is replaced (issue_credential's `replacing`), so a PIN issued, revoked or
redeemed meanwhile is never revoked by a page that was stale."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Carrier, Patient, RegistrationCredential, WelcomeMessage
from models.vocabulary import Audience, Channel, CredentialKind, MessageStatus, SendBy
from services.actor import Actor
from services.credentials.registration import (
    AlreadyIssued,
    IssueOutcome,
    IssueRequest,
    NotReplaceable,
    SigningKeys,
    issue_credential,
    latest_credentials,
)

log = logging.getLogger(__name__)

KEY_PREFIXES = {SendBy.NONE: "print-instead-", SendBy.TEXT: "text-instead-", SendBy.EMAIL: "email-instead-"}
CHANGED_MEANWHILE = "Not issued: this PIN changed while it was being replaced. Its current state is shown here."
PRINTABLE_STATES = ("Active", "Expired")
_ROAD_VERB = {SendBy.NONE: "printed", SendBy.TEXT: "texted", SendBy.EMAIL: "emailed"}


class PrintRefused(Exception):
    """This way forward does not apply to this message (any more): `reason` says why, for staff."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def idempotency_key(message_id: int, road: str = SendBy.NONE) -> str:
    return f"{KEY_PREFIXES[road]}{message_id}"


def is_printed_instead(credential: RegistrationCredential) -> bool:
    """Whether this credential was issued by Print instead: in place of an undelivered one, sent
    by no road (models/credential.py instead_of_id)."""
    return credential.instead_of_id is not None and credential.send_by == SendBy.NONE


def offered(message: WelcomeMessage | None, now: datetime) -> bool:
    """Whether the account page offers Print instead for this (latest credential's) message."""
    return (
        message is not None
        and not message.left_us
        and message.credential.state(now) in PRINTABLE_STATES
    )


@dataclass(frozen=True)
class CellOnFile:
    cell: str  # ten digits
    carrier: Carrier | None  # the gateway's carrier; None when texts go through the SMS service


@dataclass(frozen=True)
class WaysForward:
    """What the delivery region offers beside Print instead for a failed message."""

    cell: CellOnFile | None = None  # Text instead
    email: str | None = None  # Email instead


def _cell_of(message: WelcomeMessage) -> str | None:
    if message.channel == Channel.SMS:
        return message.recipient.removeprefix("+1")
    if message.channel == Channel.TEXT:
        return message.recipient.partition("@")[0]
    return None


def _contacts_sent_to(session: Session, patient_id: int, audience: str) -> list[WelcomeMessage]:
    """Messages of this patient's credentials for this audience, newest first."""
    return list(session.scalars(
        select(WelcomeMessage)
        .join(WelcomeMessage.credential)
        .where(RegistrationCredential.patient_id == patient_id, RegistrationCredential.audience == audience)
        .order_by(WelcomeMessage.created_at.desc(), WelcomeMessage.id.desc())
    ))


def _same_address(one: str | None, other: str | None) -> bool:
    return bool(one and other and one.strip().lower() == other.strip().lower())


def ways_forward(session: Session, message: WelcomeMessage, now: datetime, today: date, sms_service: bool,
                 carriers: list[Carrier]) -> WaysForward:
    """Text instead and Email instead for this failed message, where a contact is on file for its
    recipient (the module's docstring) other than the one that just failed: an email address not
    the one it bounced from, a cell by a road that did not just fail (the same number through the
    SMS service after a gateway failed counts). Nothing for a message that has not failed."""
    credential = message.credential
    if message.status != MessageStatus.FAILED or credential.state(now) not in PRINTABLE_STATES:
        return WaysForward()
    patient = credential.patient
    sent = _contacts_sent_to(session, patient.id, credential.audience)
    guardian = credential.audience == Audience.GUARDIAN
    emails = [patient.guardian_email] if guardian else []
    emails += [m.recipient for m in sent if m.channel == Channel.EMAIL]
    # A minor's contact that is the guardian's (staff were only warned) would reach the parent.
    email = next((e for e in emails if e and not _same_address(e, message.recipient)
                  and (guardian or not _same_address(e, patient.guardian_email))), None)
    return WaysForward(cell=_cell_on_file(patient, guardian, sent, message, today, sms_service, carriers), email=email)


def _cell_on_file(patient: Patient, guardian: bool, sent: list[WelcomeMessage], failed: WelcomeMessage, today: date,
                  sms_service: bool, carriers: list[Carrier]) -> CellOnFile | None:
    """The recipient's cell on file with a working road to it, other than the road that failed."""
    texts = [m for m in sent if m.channel != Channel.EMAIL]
    cell = (patient.guardian_cell if guardian else None) or next(
        (c for c in map(_cell_of, texts) if c and c != patient.guardian_cell), None)
    if not cell:
        return None
    if sms_service:
        road = CellOnFile(cell, None)
    else:
        gateways = [patient.guardian_cell_carrier.gateway] if (
            guardian and patient.guardian_cell == cell and patient.guardian_cell_carrier is not None) else []
        gateways += [m.recipient.partition("@")[2] for m in texts if m.channel == Channel.TEXT and _cell_of(m) == cell]
        carrier = next((c for g in gateways for c in carriers if c.gateway == g and not c.has_ended(today)), None)
        if carrier is None:
            return None  # no working road to that phone
        road = CellOnFile(cell, carrier)
    same_road = failed.channel == (Channel.SMS if road.carrier is None else Channel.TEXT) and _cell_of(failed) == cell
    return None if same_road and (road.carrier is None or failed.recipient.endswith("@" + road.carrier.gateway)) else road


def already_replaced(session: Session, practice_id: int, message: WelcomeMessage) -> bool:
    """Whether a way forward was taken for this message already (by any road)."""
    return session.scalar(
        select(RegistrationCredential.id).where(
            RegistrationCredential.practice_id == practice_id,
            RegistrationCredential.instead_of_id == message.credential_id,
        )
    ) is not None


def refusal(session: Session, message: WelcomeMessage, now: datetime, road: str = SendBy.NONE) -> str | None:
    """Why this way forward may not replace this message's PIN now, in staff's words; None: it may."""
    credential = message.credential
    noun = credential.noun
    verb = _ROAD_VERB[road].capitalize()
    if message.left_us and message.status != MessageStatus.FAILED:
        return f"Already sent: this welcome message was {message.status_label.lower()}, so nothing was {_ROAD_VERB[road]}."
    if road != SendBy.NONE and message.status != MessageStatus.FAILED:
        return f"Not {_ROAD_VERB[road]}: this message has not failed. Retry it, or use Print instead."
    latest = latest_credentials(session, credential.patient_id).get(credential.audience)
    if latest is None or latest.id != credential.id:
        return (
            f"Not {_ROAD_VERB[road]}: a newer PIN or question has been issued for the {credential.audience_label} "
            "since this message."
        )
    state = credential.state(now)
    if state not in PRINTABLE_STATES:
        return f"{'Not ' + verb.lower()}: that {noun} is {state}. Use Register Patient to issue a new PIN."
    return None


def _issue_instead(session: Session, actor: Actor, *, patient: Patient, message: WelcomeMessage, road: str,
                   keys: SigningKeys, default_portal_url: str, email: str | None = None,
                   cell: CellOnFile | None = None) -> IssueOutcome:
    now = actor.now()
    key = idempotency_key(message.id, road)
    if already_replaced(session, actor.practice_id, message):
        raise AlreadyIssued()
    reason = refusal(session, message, now, road)
    if reason:
        raise PrintRefused(reason)
    if road == SendBy.TEXT and cell is None:
        raise PrintRefused("Not texted: no cell phone with a working road to it is on file for this recipient.")
    if road == SendBy.EMAIL and email is None:
        raise PrintRefused("Not emailed: no email address is on file for this recipient.")
    credential = message.credential
    request = IssueRequest(
        kind=CredentialKind.PIN,  # even for a question: a PIN is what a new road carries
        access_level=credential.access_level,
        send_by=road,
        audience=credential.audience,
        idempotency_key=key,
        email=email,
        cell=cell.cell if cell else None,
        prints_letter=road == SendBy.NONE,
        instead_of_message=message.id,
        instead_of_credential=credential.id,
        sms_service=cell is not None and cell.carrier is None,
    )
    message_id, replaced_id = message.id, credential.id
    try:
        outcome = issue_credential(
            session, actor, patient=patient, request=request, keys=keys,
            default_portal_url=default_portal_url, replacing=replaced_id, carrier=cell.carrier if cell else None,
        )
    except NotReplaceable:
        session.expire_all()
        message = session.get(WelcomeMessage, message_id)
        raise PrintRefused(refusal(session, message, now, road) or CHANGED_MEANWHILE) from None
    # Ids only (no PIN, no PHI): who replaced which message's PIN with which new one, by which road.
    log.info(
        "welcome message %s: credential %s replaced by %s credential %s, staff %s, practice %s",
        message_id, replaced_id, _ROAD_VERB[road], outcome.credential_id, actor.staff_id, actor.practice_id,
    )
    return outcome


def print_instead(session: Session, actor: Actor, *, patient: Patient, message: WelcomeMessage, keys: SigningKeys,
                  default_portal_url: str) -> IssueOutcome:
    """Issue a fresh PIN, not sent, in place of `message`'s credential (which it revokes as
    replaced), audited as issued and printed: one transaction. Raises AlreadyIssued (a way
    forward was taken for this message already), PrintRefused (sent, superseded, used, revoked or
    locked, checked again under the lock) or UnofficialName."""
    return _issue_instead(session, actor, patient=patient, message=message, road=SendBy.NONE, keys=keys,
                          default_portal_url=default_portal_url)


def send_instead(session: Session, actor: Actor, *, patient: Patient, message: WelcomeMessage, road: str,
                 ways: WaysForward, keys: SigningKeys, default_portal_url: str) -> IssueOutcome:
    """Text instead (`road` TEXT) or Email instead (EMAIL): a fresh PIN, queued for that road to the
    contact on file (`ways`, from ways_forward), in place of the failed message's credential, which
    it revokes: one transaction. The caller then makes the inline attempt, as an issue does.
    Raises AlreadyIssued, PrintRefused (also when no contact for that road is on file) or
    UnofficialName."""
    if road not in (SendBy.TEXT, SendBy.EMAIL):
        raise ValueError(road)
    return _issue_instead(session, actor, patient=patient, message=message, road=road, keys=keys,
                          default_portal_url=default_portal_url,
                          email=ways.email if road == SendBy.EMAIL else None,
                          cell=ways.cell if road == SendBy.TEXT else None)
