"""Issuing and revoking a portal registration PIN or verification question.

`issue_credential` writes the credential, its welcome-message record and its audit rows in one
transaction; `deliver_welcome_message` sends only after that commit (its own unit of work), so a
slow mail server never holds a database lock and a crash never leaves a PIN that staff were told
about but that does not exist. The message's body is held encrypted until it is sent or given up
(services/delivery/outbox.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Carrier, Patient, PortalLink, PortalUser, Practice, RegistrationCredential, WelcomeMessage
from models.vocabulary import (
    AuditAction,
    AuditOutcome,
    Channel,
    CredentialKind,
    CredentialState,
    DeliveryEventKind,
    MessageStatus,
    SendBy,
)
from services import audit
from services.actor import Actor, unit_of_work
from services.credentials.pins import HASH_METHOD, format_pin, generate_pin, hash_secret, normalize_answer, pin_bucket
from services.delivery.couriers import Couriers
from services.delivery.mail_delivery import OutgoingMail
from services.delivery.masking import mask_cell, mask_email
from services.delivery.message_cipher import MessageCipher, derive_key
from services.delivery.message_templates import PracticeTemplates, email_for, letter_html_for, text_message_for
from services.delivery.message_templates import load as load_templates
from services.delivery.outbox import CLAIM_LEASE, Attempt, add_event, attempt, withdraw_messages, withdrawn_reason
from services.delivery.portal_links import practice_link, with_query
from services.delivery.sms import e164_us
from services.delivery.welcome_messages import WelcomeDetails
from services.patients.names import is_placeholder_first_name

log = logging.getLogger(__name__)

QUESTION_LINK_SALT = "verification-question"
DESK_TOKEN_SALT = "desk-registration"
REPLACED_REASON = "Replaced by a newly issued PIN or question"
REVOKE_REASON_MAX_LENGTH = 200  # registration_credentials.revoked_reason


class UnofficialName(Exception):
    """The patient still carries a placeholder first name such as 'Baby Boy'."""


class AlreadyIssued(Exception):
    """This window (its idempotency key) has issued its credential already."""


class CredentialNotFound(Exception):
    """No credential with that id in this practice (another practice's looks the same)."""


class NotReplaceable(Exception):
    """The credential an issue was meant to replace is no longer its audience's open one (it was
    used, revoked or replaced meanwhile): nothing was issued."""


class CredentialNotActive(Exception):
    """The credential is used, revoked, locked or expired already: nothing left to revoke."""

    def __init__(self, state: str, noun: str = "PIN"):
        super().__init__(state)
        self.state = state
        self.message = f"Not revoked: that {noun} is {state} already, not Active."


@dataclass(frozen=True)
class IssueRequest:
    kind: str  # "pin" or "question"
    access_level: str  # "full" or "limited"
    send_by: str  # "email", "text" or "none"
    audience: str  # "guardian" or "minor"
    idempotency_key: str
    email: str | None = None
    cell: str | None = None  # ten digits, already validated
    question: str | None = None
    answer: str | None = None
    prints_letter: bool = False  # Print PIN: the letter is printed from the window as well
    # Print, Text or Email instead: the undelivered message (and its credential) this one stands in for.
    instead_of_message: int | None = None
    instead_of_credential: int | None = None
    # A text goes through the SMS service (Twilio: no carrier needed), not a carrier's gateway.
    sms_service: bool = False

    @property
    def channel(self) -> Channel | None:
        """How the welcome message travels; None: it is not sent."""
        if self.send_by == SendBy.EMAIL:
            return Channel.EMAIL
        if self.send_by == SendBy.TEXT:
            return Channel.SMS if self.sms_service else Channel.TEXT
        return None

    @property
    def noun(self) -> str:
        return CredentialKind(self.kind).noun


@dataclass(frozen=True)
class SigningKeys:
    """Keys that live outside the database: the PIN bucket key and the link signer's secret."""

    pin_lookup_key: bytes
    secret_key: str
    hash_method: str = HASH_METHOD  # werkzeug method for PINs and answers (tests use a cheap one)
    # Encrypts queued message bodies (OUTBOX_KEY); None: a key derived from secret_key.
    cipher: MessageCipher | None = None

    @classmethod
    def from_config(cls, config) -> SigningKeys:
        """From the app's configuration mapping (PIN_LOOKUP_KEY, SECRET_KEY, HASH_METHOD, OUTBOX_KEY)."""
        return cls(
            pin_lookup_key=config["PIN_LOOKUP_KEY"],
            secret_key=config["SECRET_KEY"],
            hash_method=config.get("HASH_METHOD", HASH_METHOD),
            cipher=MessageCipher.from_config(config),
        )

    def message_cipher(self) -> MessageCipher:
        return self.cipher or MessageCipher([derive_key(self.secret_key)])


@dataclass(frozen=True)
class PendingDelivery:
    message_id: int
    practice_id: int
    mail: OutgoingMail


@dataclass(frozen=True)
class IssueOutcome:
    credential_id: int
    kind: str
    audience: str
    pin: str | None
    question: str | None
    expires_at: datetime
    send_by: str
    sent_to_masked: str | None
    replaced_previous: bool
    desk_token: str
    details: WelcomeDetails
    delivery: PendingDelivery | None
    # The printed letter's body in the practice's wording (a PIN's); None: the built-in letter.
    letter_html: Markup | None = None

    @property
    def desk_link(self) -> str:
        """Complete / Log In's link: the practice's portal link with the desk's one-time token."""
        return with_query(self.details.practice_link, desk=self.desk_token)


def question_link(portal_url: str, slug: str, secret_key: str, credential_id: int) -> str:
    """The signed link a verification question's welcome message carries instead of a PIN:
    `…?practice=SLUG&vq=TOKEN`. Opening it only shows the question; the form's POST redeems."""
    token = URLSafeTimedSerializer(secret_key, salt=QUESTION_LINK_SALT).dumps({"c": credential_id})
    return with_query(practice_link(portal_url, slug), vq=token)


# Longer than any real id, so a fit check with it holds for every real link.
LONGEST_CREDENTIAL_ID = 10**12


def needs_given_name(patient: Patient) -> bool:
    return patient.name_is_unofficial or is_placeholder_first_name(patient.first_name)


def portal_url_for(practice: Practice, default_portal_url: str) -> str:
    return practice.portal_url or default_portal_url


def pending_credential(
    session: Session, patient_id: int, audience: str, now: datetime
) -> RegistrationCredential | None:
    """The active credential a new issue for this audience would replace, if any."""
    return session.scalar(
        select(RegistrationCredential).where(
            RegistrationCredential.patient_id == patient_id,
            RegistrationCredential.audience == audience,
            RegistrationCredential.active_condition(now),
        )
    )


@dataclass(frozen=True)
class PortalAccount:
    """A portal account already linked to a patient, as the window names it: masked."""

    email_masked: str
    audience: str


def portal_accounts(session: Session, practice_id: int, patient_id: int) -> list[PortalAccount]:
    """The practice's portal users linked to this patient, oldest link first."""
    rows = session.execute(
        select(PortalUser.email, PortalLink.audience)
        .join(PortalLink, PortalLink.portal_user_id == PortalUser.id)
        .where(PortalUser.practice_id == practice_id, PortalLink.patient_id == patient_id)
        .order_by(PortalLink.id)
    )
    return [PortalAccount(mask_email(email), audience) for email, audience in rows]


def latest_credentials(session: Session, patient_id: int) -> dict[str, RegistrationCredential]:
    """Per audience, the most recently issued credential (older ones are history)."""
    rows = session.scalars(
        select(RegistrationCredential)
        .where(RegistrationCredential.patient_id == patient_id)
        .order_by(RegistrationCredential.issued_at.desc(), RegistrationCredential.id.desc())
    )
    latest: dict[str, RegistrationCredential] = {}
    for credential in rows:
        latest.setdefault(credential.audience, credential)
    return latest


def _already_issued(session: Session, practice_id: int, key: str) -> bool:
    return (
        session.scalar(
            select(RegistrationCredential.id).where(
                RegistrationCredential.practice_id == practice_id,
                RegistrationCredential.idempotency_key == key,
            )
        )
        is not None
    )


def _lock_patient(session: Session, patient_id: int) -> None:
    """Serialise issuers of one patient. PostgreSQL: a row lock. SQLite: the first write of the
    transaction takes the database's write lock (pysqlite begins it lazily, at the first DML).
    The no-op UPDATE names updated_at so that its onupdate default does not fire."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Patient.id).where(Patient.id == patient_id).with_for_update())
    else:
        session.execute(
            update(Patient).where(Patient.id == patient_id).values(updated_at=Patient.updated_at)
        )


def issue_credential(
    session: Session,
    actor: Actor,
    *,
    patient: Patient,
    request: IssueRequest,
    keys: SigningKeys,
    default_portal_url: str,
    carrier: Carrier | None = None,
    replacing: int | None = None,
) -> IssueOutcome:
    """Issue one PIN or question for `patient`, replacing the audience's previous one, record
    its welcome message as queued, and audit it: one transaction. Raises UnofficialName or
    AlreadyIssued.
    `replacing`: the id of the credential this issue is meant to replace (Print instead). Under the
    patient's lock it must still be the audience's unused, unrevoked one, or nothing is issued
    (NotReplaceable): a PIN issued or redeemed meanwhile is never revoked by a stale page."""
    practice = session.get(Practice, actor.practice_id)
    if practice is None or patient.practice_id != practice.id:
        raise ValueError("patient belongs to another practice")
    now, portal_url = actor.now(), portal_url_for(practice, default_portal_url)
    if needs_given_name(patient):
        raise UnofficialName()
    if _already_issued(session, practice.id, request.idempotency_key):
        raise AlreadyIssued()

    # The slow and fallible work (scrypt, addresses) happens before the lock is taken.
    pin = generate_pin() if request.kind == CredentialKind.PIN else None
    pin_hash = hash_secret(pin, keys.hash_method) if pin else None
    answer_hash = (
        hash_secret(normalize_answer(request.answer or ""), keys.hash_method) if request.kind == CredentialKind.QUESTION else None
    )
    recipient, masked = _recipient(request, carrier)
    expires_at = now + timedelta(days=practice.pin_lifetime_days)
    cipher = keys.message_cipher()
    templates = load_templates(session, practice.id)

    try:
        _lock_patient(session, patient.id)
        if _already_issued(session, practice.id, request.idempotency_key):
            raise AlreadyIssued()
        replaced_ids = session.scalars(
            update(RegistrationCredential)
            .where(
                RegistrationCredential.patient_id == patient.id,
                RegistrationCredential.audience == request.audience,
                RegistrationCredential.used_at.is_(None),
                RegistrationCredential.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_reason=REPLACED_REASON)
            .returning(RegistrationCredential.id)
            .execution_options(synchronize_session=False)
        ).all()
        if replacing is not None and replacing not in replaced_ids:
            raise NotReplaceable()
        replaced = len(replaced_ids)
        # A replaced PIN's message, if still held, is never sent: its body goes with it.
        withdraw_messages(session, replaced_ids, "Not sent: replaced by a newly issued PIN or question.", now)
        credential = RegistrationCredential(
            practice_id=practice.id,
            patient_id=patient.id,
            kind=request.kind,
            audience=request.audience,
            access_level=request.access_level,
            pin_hash=pin_hash,
            pin_bucket=pin_bucket(keys.pin_lookup_key, pin) if pin else None,
            question=request.question if request.kind == CredentialKind.QUESTION else None,
            answer_hash=answer_hash,
            send_by=request.send_by,
            sent_to_masked=masked,
            issued_at=now,
            expires_at=expires_at,
            issued_by_id=actor.staff_id,
            failed_attempts=0,
            idempotency_key=request.idempotency_key,
            instead_of_id=request.instead_of_credential,
        )
        session.add(credential)
        session.flush()

        details = WelcomeDetails(
            practice_name=practice.name,
            practice_slug=practice.slug,
            portal_url=portal_url,
            expires_at=expires_at,
            timezone=practice.timezone,
            patient_first_name=patient.first_name,
            pin=format_pin(pin) if pin else None,
            question_link=question_link(portal_url, practice.slug, keys.secret_key, credential.id) if not pin else None,
        )
        delivery = None
        if recipient is not None:
            mail = _compose(request.send_by, recipient, details, templates)
            message = WelcomeMessage(
                practice_id=practice.id,
                credential_id=credential.id,
                channel=request.channel,
                recipient=recipient,
                status=MessageStatus.QUEUED,
                attempts=0,
                created_at=now,
                # The inline attempt claims it at once; if that process dies, a worker sends it
                # once this lease has run out.
                next_attempt_at=now + CLAIM_LEASE,
            )
            session.add(message)
            session.flush()
            # Encrypted with the message's id inside, so it needs the id: same transaction.
            message.body_encrypted = cipher.encrypt(message.id, mail)
            add_event(session, message.id, practice.id, DeliveryEventKind.QUEUED, None, now)
            session.flush()
            delivery = PendingDelivery(message_id=message.id, practice_id=practice.id, mail=mail)
        _audit_issue(session, actor, patient.id, credential.id, request, replaced > 0)
        session.commit()
    except AlreadyIssued:
        session.rollback()
        raise
    except IntegrityError:
        session.rollback()
        if _already_issued(session, practice.id, request.idempotency_key):
            # Another request with this key won the race between our check and our insert.
            raise AlreadyIssued() from None
        raise
    except BaseException:
        session.rollback()
        raise

    desk_token = URLSafeTimedSerializer(keys.secret_key, salt=DESK_TOKEN_SALT).dumps({"c": credential.id})
    return IssueOutcome(
        credential_id=credential.id,
        kind=request.kind,
        audience=request.audience,
        pin=details.pin,
        question=request.question if request.kind == CredentialKind.QUESTION else None,
        expires_at=expires_at,
        send_by=request.send_by,
        sent_to_masked=masked,
        replaced_previous=replaced > 0,
        desk_token=desk_token,
        details=details,
        delivery=delivery,
        letter_html=letter_html_for(details, templates),
    )


def _audit_issue(session: Session, actor: Actor, patient_id: int, credential_id: int, request: IssueRequest,
                 replaced: bool) -> None:
    if request.instead_of_message is not None:
        road = {SendBy.EMAIL: "emailed", SendBy.TEXT: "texted"}.get(request.send_by, "printed")
        how = f"{road} instead of message {request.instead_of_message} (its PIN revoked)"
    else:
        how = f"send by {request.send_by}" + (", replacing the pending one (revoked)" if replaced else "")
    audit.record(session, actor, AuditAction.ISSUE, patient_id=patient_id,
                 detail=f"{request.noun} {credential_id} for the {request.audience}, {how}")
    if request.prints_letter:
        audit.record(session, actor, AuditAction.PRINT, patient_id=patient_id, detail=f"{request.noun} {credential_id} letter")


def record_letter_printed(session: Session, actor: Actor, patient_id: int, credential_id: int) -> bool:
    """Print letter (again) in the window's result: the letter of a PIN or question still on
    screen went to the printer. False when the credential is not this practice's patient's."""
    credential = session.scalar(
        select(RegistrationCredential).where(
            RegistrationCredential.id == credential_id,
            RegistrationCredential.patient_id == patient_id,
            RegistrationCredential.practice_id == actor.practice_id,
        )
    )
    if credential is None:
        return False
    with unit_of_work(session):
        audit.record(session, actor, AuditAction.PRINT, patient_id=patient_id, detail=f"{credential.noun} {credential.id} letter")
    return True


def _recipient(request: IssueRequest, carrier: Carrier | None) -> tuple[str | None, str | None]:
    if request.send_by == SendBy.EMAIL:
        if not request.email:
            raise ValueError("email required")
        return request.email, mask_email(request.email)
    if request.send_by == SendBy.TEXT:
        if request.cell and request.sms_service:
            return e164_us(request.cell), mask_cell(request.cell)
        if not request.cell or carrier is None:
            raise ValueError("cell and carrier required")
        return f"{request.cell}@{carrier.gateway}", mask_cell(request.cell)
    return None, None


def _compose(send_by: str, recipient: str, details: WelcomeDetails, templates: PracticeTemplates) -> OutgoingMail:
    if send_by == SendBy.TEXT:
        body = text_message_for(details, templates)
        if body is None:
            raise ValueError("portal URL too long for a text message")
        return OutgoingMail(recipient=recipient, subject="", text=body)
    email = email_for(details, templates)
    return OutgoingMail(recipient=recipient, subject=email.subject, text=email.text, html=email.html)


def deliver_welcome_message(
    session: Session, actor: Actor, patient_id: int, delivery: PendingDelivery, couriers: Couriers,
    cipher: MessageCipher | None = None,
) -> WelcomeMessage:
    """The inline attempt, after the credential's commit, with the mail composed in memory.
    Records Sent, Failed with the reason (a permanent refusal), or leaves it Queued for the worker
    with the reason and the time of the next try (a temporary failure); audited with it."""
    message = session.get(WelcomeMessage, delivery.message_id)
    attempt(session, message, couriers, cipher, Attempt(actor, "on issue", patient_id), mail=delivery.mail)
    session.refresh(message)
    return message


def find_patient_credential(
    session: Session, practice_id: int, patient_id: int, credential_id: int
) -> RegistrationCredential | None:
    return session.scalar(
        select(RegistrationCredential).where(
            RegistrationCredential.id == credential_id,
            RegistrationCredential.patient_id == patient_id,
            RegistrationCredential.practice_id == practice_id,
        )
    )


def revoke_credential(
    session: Session, actor: Actor, credential: RegistrationCredential, reason: str
) -> RegistrationCredential:
    """Revoke one active PIN or question of the actor's practice, with staff's reason, audited in
    the same transaction. Raises CredentialNotActive (the refusal audited alone), or ValueError
    for an empty or long reason."""
    if credential.practice_id != actor.practice_id:
        raise CredentialNotFound()
    now = actor.now()
    noun = credential.noun
    credential_id, patient_id = credential.id, credential.patient_id
    state = credential.state(now)
    if state == CredentialState.ACTIVE:
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("a revocation needs a reason")
        if len(reason) > REVOKE_REASON_MAX_LENGTH:
            raise ValueError(f"a revocation reason has at most {REVOKE_REASON_MAX_LENGTH} characters")
        with unit_of_work(session):
            # Conditional on still being active, so a redemption or a new issue that commits
            # between the read above and this write wins, and the revocation is refused.
            revoked = session.execute(
                update(RegistrationCredential)
                .where(RegistrationCredential.id == credential_id, RegistrationCredential.active_condition(now))
                .values(revoked_at=now, revoked_reason=reason)
                .execution_options(synchronize_session=False)
            ).rowcount
            if revoked == 1:
                # Its welcome message, if still held, is never sent: the body goes with it.
                withdraw_messages(session, [credential_id], withdrawn_reason(credential.kind, CredentialState.REVOKED), now)
                # The reason is staff's free text (it may name the patient): not in the trail.
                audit.record(session, actor, AuditAction.REVOKE, patient_id=patient_id, detail=f"{noun} {credential_id}")
        session.refresh(credential)
        if revoked == 1:
            # The table has no revoked_by column; the log keeps who did it (ids only, no reason).
            log.info("credential %s revoked by staff %s in practice %s", credential_id, actor.staff_id, actor.practice_id)
            return credential
        state = credential.state(now)
    audit.record_alone(session, actor, AuditAction.REVOKE, AuditOutcome.REFUSED, patient_id=patient_id,
                       detail=f"{noun} {credential_id} is {state}")
    raise CredentialNotActive(state, noun)
