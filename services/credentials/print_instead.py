"""Print instead: a welcome message that has not reached the parent is
replaced by a fresh PIN printed at the desk. A PIN is shown only once, so the undelivered one
cannot be printed: a new PIN is issued (same recipient and access, `Do not send PIN`), which
revokes the old one as replaced and withdraws its message if it is still held.

Offered for the latest credential of an audience whose message is not sent, while that
credential is Active (the message is queued or failed) or Expired (it lapsed undelivered). Never
for a Used one (the parent registered), nor a Revoked one (staff ended it, with a reason) or a
Locked one (wrong attempts to look into first): those are issued anew with Register Patient.

One press issues one PIN: the idempotency key is derived from the message's id, so a double
click or a resent POST gets AlreadyIssued. The failed PIN is checked again under the patient's
lock as it is replaced (issue_credential's `replacing`), so a PIN issued, revoked or redeemed
meanwhile is never revoked by a page that was stale."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Patient, RegistrationCredential, WelcomeMessage
from models.vocabulary import CredentialKind, MessageStatus, SendBy
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

KEY_PREFIX = "print-instead-"
CHANGED_MEANWHILE = "Not printed: this PIN changed while it was being replaced. Its current state is shown here."
PRINTABLE_STATES = ("Active", "Expired")


class PrintRefused(Exception):
    """Print instead does not apply to this message (any more): `reason` says why, for staff."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def idempotency_key(message_id: int) -> str:
    return f"{KEY_PREFIX}{message_id}"


def is_printed_instead(credential: RegistrationCredential) -> bool:
    """Whether this credential was issued by Print instead (its key says so)."""
    return (credential.idempotency_key or "").startswith(KEY_PREFIX)


def offered(message: WelcomeMessage | None, now: datetime) -> bool:
    """Whether the account page offers Print instead for this (latest credential's) message."""
    return (
        message is not None
        and message.status != "sent"
        and message.credential.state(now) in PRINTABLE_STATES
    )


def already_printed(session: Session, practice_id: int, message_id: int) -> bool:
    return (
        session.scalar(
            select(RegistrationCredential.id).where(
                RegistrationCredential.practice_id == practice_id,
                RegistrationCredential.idempotency_key == idempotency_key(message_id),
            )
        )
        is not None
    )


def refusal(session: Session, message: WelcomeMessage, now: datetime) -> str | None:
    """Why Print instead may not replace this message's PIN now, in staff's words; None: it may."""
    credential = message.credential
    noun = credential.noun
    if message.status == MessageStatus.SENT:
        return "Already sent: this welcome message was delivered, so nothing was printed."
    latest = latest_credentials(session, credential.patient_id).get(credential.audience)
    if latest is None or latest.id != credential.id:
        return (
            f"Not printed: a newer PIN or question has been issued for the {credential.audience_label} "
            "since this message."
        )
    state = credential.state(now)
    if state not in PRINTABLE_STATES:
        return f"Not printed: that {noun} is {state}. Use Register Patient to issue a new PIN."
    return None


def print_instead(
    session: Session,
    actor: Actor,
    *,
    patient: Patient,
    message: WelcomeMessage,
    keys: SigningKeys,
    default_portal_url: str,
) -> IssueOutcome:
    """Issue a fresh PIN, not sent, in place of `message`'s credential (which it revokes as
    replaced), audited as issued and printed: one transaction. Raises AlreadyIssued (done for
    this message already), PrintRefused (sent, superseded, used, revoked or locked, checked again
    under the lock) or UnofficialName."""
    now = actor.now()
    if already_printed(session, actor.practice_id, message.id):
        raise AlreadyIssued()
    reason = refusal(session, message, now)
    if reason:
        raise PrintRefused(reason)
    credential = message.credential
    request = IssueRequest(
        kind=CredentialKind.PIN,  # even for a question: a printed letter carries a PIN
        access_level=credential.access_level,
        send_by=SendBy.NONE,
        audience=credential.audience,
        idempotency_key=idempotency_key(message.id),
        prints_letter=True,
        printed_instead_of=message.id,
    )
    message_id, replaced_id = message.id, credential.id
    try:
        outcome = issue_credential(
            session, actor, patient=patient, request=request, keys=keys,
            default_portal_url=default_portal_url, replacing=replaced_id,
        )
    except NotReplaceable:
        session.expire_all()
        message = session.get(WelcomeMessage, message_id)
        raise PrintRefused(refusal(session, message, now) or CHANGED_MEANWHILE) from None
    # Ids only (no PIN, no PHI): who replaced which message's PIN with which printed one.
    log.info(
        "welcome message %s: credential %s replaced by printed credential %s, staff %s, practice %s",
        message_id, replaced_id, outcome.credential_id, actor.staff_id, actor.practice_id,
    )
    return outcome
