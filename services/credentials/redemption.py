"""Redeeming a PIN, a verification question or a desk token: the parent side of a credential's
life. A redemption, or a failure with what it counts, is written with its audit row in one
transaction.

Every failed PIN attempt costs one salted-KDF verification, whatever went wrong, and ends with
the same answer: the keyed-HMAC bucket names the few active candidates (almost always one or
none) and a dummy verification stands in when there are none.

What a failure counts against (README: the lock rule):
- A PIN counts a failure only when it matched and the date of birth did not (a stolen PIN tried
  with guessed dates): five such failures lock it. The failure is audited in that PIN's
  practice, naming its patient.
- A PIN that matches nothing locks nothing: a stranger could otherwise lock every family born
  on a date by typing wrong PINs with it. An 8-character PIN is 40 bits, out of reach of blind
  guessing under the per-client limits; what remains is slowed. Every PIN attempt counts, before
  anything is checked, against the date of birth typed from that client address
  (services/throttle.py, ThrottleScope.BIRTH_DATE): past a few, that client's attempts with
  that date wait a growing delay (capped at a minute) and are refused unchecked until it passes
  (RedemptionSlowed). Keyed by the client too, a stranger's guessing slows only the stranger,
  never the families born that day. The delay depends only on how many attempts came with that
  date, is checked before any PIN is looked up, and no success clears it, so it tells nothing
  about whether a PIN or a patient exists; the page says so plainly ("Too many attempts. Try
  again in N seconds."), so that a parent slowed (her own typos, or a network she shares) waits
  instead of taking her PIN for wrong. A failure no PIN ties to a
  practice is audited with no practice (no practice's export shows it; it is the deployment's),
  except in Add another child, where the signed-in parent's practice is known and audits it.
- A verification question's link names its credential, as a matched PIN does, so every failure
  through a live link (wrong answer or wrong date of birth) counts against that question, five
  lock it, and the failure is audited in its practice. Answers are guessable where PINs are not:
  this lock is what keeps an answer from being guessed. Only the link's holder can reach it.
- A desk token stands in for both PIN and date of birth; a dead one counts against nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NoReturn

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from models import PortalLink, PortalUser, RegistrationCredential
from models.credential import MAX_FAILED_ATTEMPTS
from models.vocabulary import Audience, AuditAction, AuditOutcome, Channel, CredentialKind, CredentialState, ThrottleScope
from services import audit, throttle
from services.actor import Actor, unit_of_work
from services.credentials.pins import normalize_answer, normalize_pin_entry, pin_bucket, secret_matches, spend_one_verification
from services.credentials.registration import DESK_TOKEN_SALT, QUESTION_LINK_SALT, SigningKeys
from services.delivery.outbox import withdraw_messages, withdrawn_reason
from services.identity import portal_sessions
from services.identity.portal_accounts import create_portal_user, find_portal_user

DESK_TOKEN_MAX_AGE_SECONDS = 15 * 60
FAILURE_MESSAGE = (
    "We could not match these details. Check the PIN and the patient's date of birth and try "
    "again, or ask the practice for a new PIN."
)


class RedemptionFailed(Exception):
    """Any wrong, unknown, expired, used, revoked or locked credential, or a wrong birth date."""


class RedemptionSlowed(Exception):
    """Too many PIN attempts failed with this date of birth lately: refused unchecked for now."""

    def __init__(self, seconds: int):
        super().__init__(seconds)
        self.seconds = seconds


class AccountPasswordMismatch(Exception):
    """The credential was right, but the email belongs to an account with another password."""


class AudienceMismatch(Exception):
    """The credential was right, but for another kind of account: a Minor's PIN opens the
    teenager's own account (never a parent's), and a parent's PIN never joins a teenager's."""


@dataclass(frozen=True)
class Registrant:
    """Who is redeeming: a new or existing account's email and password, or a signed-in user."""

    email: str | None = None
    password: str | None = None
    portal_user_id: int | None = None
    # Sign the registrant in on this browser, in the redemption's own transaction (the token of
    # the browser's previous portal session, which ends, or "" when it has none). None: the
    # desk's computer or a staff browser, where nobody is signed in.
    signs_in_replacing: str | None = None


@dataclass(frozen=True)
class Redeemed:
    portal_user_id: int
    patient_id: int
    patient_first_name: str
    access_level: str
    created_account: bool
    # The new portal session's cookie token when the registrant signed in (Registrant.signs_in_replacing).
    session_token: str | None = None


def _active_pin_candidates(session: Session, bucket: int, now: datetime) -> list[RegistrationCredential]:
    return list(
        session.scalars(
            select(RegistrationCredential).where(
                RegistrationCredential.kind == CredentialKind.PIN,
                RegistrationCredential.pin_bucket == bucket,
                RegistrationCredential.active_condition(now),
            )
        )
    )


def _count_failure_against(session: Session, credential_id: int) -> int:
    """One more failure against this credential; returns its count (MAX_FAILED_ATTEMPTS locks it)."""
    return session.execute(
        update(RegistrationCredential)
        .where(RegistrationCredential.id == credential_id)
        .values(failed_attempts=RegistrationCredential.failed_attempts + 1)
        .returning(RegistrationCredential.failed_attempts)
        .execution_options(synchronize_session=False)
    ).scalar_one()


def _failure_detail(via: str, failures: int) -> str:
    locked = "; locked" if failures >= MAX_FAILED_ATTEMPTS else ""
    return f"by {via}: failure {failures} of {MAX_FAILED_ATTEMPTS}{locked}"


def redeem_pin(
    session: Session,
    actor: Actor,
    *,
    pin_entry: str,
    date_of_birth: date,
    registrant: Registrant,
    keys: SigningKeys,
    via: str = "pin",
) -> Redeemed:
    """Link the patient whose active PIN and birth date match to the registrant's account.
    An actor with a practice (a signed-in parent adding a child) may redeem only its PINs.
    Raises RedemptionSlowed, without checking anything, while the date of birth typed waits
    out its delay; RedemptionFailed for any other failure."""
    now, practice_id = actor.now(), actor.practice_id
    # Per date of birth and client address: a stranger's guesses slow only the stranger.
    slowed_key = f"{date_of_birth.isoformat()}\0{actor.client_ip or ''}"
    wait = throttle.attempt(session, keys.pin_lookup_key, ThrottleScope.BIRTH_DATE, slowed_key, now)
    if wait:
        audit.record_alone(session, actor, AuditAction.FAILED_REDEEM, AuditOutcome.REFUSED, detail=f"by {via}: slowed")
        raise RedemptionSlowed(wait)
    pin = normalize_pin_entry(pin_entry)
    candidates = _active_pin_candidates(session, pin_bucket(keys.pin_lookup_key, pin), now)
    named = None
    for candidate in candidates:
        if secret_matches(candidate.pin_hash, pin) and named is None:
            named = candidate
    if not candidates:
        spend_one_verification(keys.hash_method)

    if named is not None and practice_id is not None and named.practice_id != practice_id:
        named = None  # another practice's PIN: as unknown as any other
    if named is None or named.patient.date_of_birth != date_of_birth:
        with unit_of_work(session):
            if named is None:
                # Matched nothing: counts against no PIN. Audited in the signed-in parent's
                # practice (Add another child), else in none.
                audit.record(session, actor, AuditAction.FAILED_REDEEM, AuditOutcome.FAILURE, detail=f"by {via}: no match")
            else:
                failures = _count_failure_against(session, named.id)
                audit.record(session, actor.in_practice(named.practice_id), AuditAction.FAILED_REDEEM,
                             AuditOutcome.FAILURE, patient_id=named.patient_id, detail=_failure_detail(via, failures))
        raise RedemptionFailed()
    return _link(session, actor, named, registrant, keys, via)


def _fail_unmatched(session: Session, actor: Actor, via: str) -> NoReturn:
    """A link or token that names no live credential: audited (with no patient, none is known),
    counted against nothing, and the one answer every failure gets."""
    audit.record_alone(session, actor, AuditAction.FAILED_REDEEM, AuditOutcome.FAILURE, detail=f"by {via}: no match")
    raise RedemptionFailed()


def _active_credential(
    session: Session, credential_id: int | None, now: datetime, kind: str | None = None
) -> RegistrationCredential | None:
    """The credential with this id if it can still be redeemed (and is of `kind`), else None."""
    if credential_id is None:
        return None
    query = select(RegistrationCredential).where(
        RegistrationCredential.id == credential_id, RegistrationCredential.active_condition(now)
    )
    if kind is not None:
        query = query.where(RegistrationCredential.kind == kind)
    return session.scalar(query)


def load_question(session: Session, token: str, keys: SigningKeys, now: datetime) -> RegistrationCredential | None:
    """The active verification question a link names, or None (bad signature, inactive)."""
    credential_id = _token_credential_id(token, keys.secret_key, QUESTION_LINK_SALT, max_age=None)
    return _active_credential(session, credential_id, now, kind="question")


def redeem_question(
    session: Session,
    actor: Actor,
    *,
    credential_id: int,
    answer: str,
    date_of_birth: date,
    registrant: Registrant,
    keys: SigningKeys,
) -> Redeemed:
    credential = _active_credential(session, credential_id, actor.now(), kind="question")
    if credential is None:
        spend_one_verification(keys.hash_method)
        _fail_unmatched(session, actor, "question")
    # The link named the question, as a matched PIN names its own: the failure is counted
    # against it and is the practice's to see.
    right_answer = secret_matches(credential.answer_hash, normalize_answer(answer))
    if not right_answer or credential.patient.date_of_birth != date_of_birth:
        with unit_of_work(session):
            failures = _count_failure_against(session, credential.id)
            audit.record(session, actor.in_practice(credential.practice_id), AuditAction.FAILED_REDEEM,
                         AuditOutcome.FAILURE, patient_id=credential.patient_id, detail=_failure_detail("question", failures))
        raise RedemptionFailed()
    return _link(session, actor, credential, registrant, keys, "question")


def load_desk_credential(session: Session, token: str, keys: SigningKeys, now: datetime) -> RegistrationCredential | None:
    """The active credential a Complete / Log In token stands in for (15 minutes), or None."""
    credential_id = _token_credential_id(token, keys.secret_key, DESK_TOKEN_SALT, max_age=DESK_TOKEN_MAX_AGE_SECONDS)
    return _active_credential(session, credential_id, now)


def email_staff_entered(credential: RegistrationCredential) -> str | None:
    """The email address staff sent this credential's welcome message to (the window's Email),
    for Complete / Log In's page to offer; None when it went another way or nowhere. Read from
    the credential's own row, never from the token: its payload is signed, not secret."""
    message = credential.welcome_message
    if message is None or message.channel != Channel.EMAIL:
        return None
    return message.recipient


def redeem_desk_token(
    session: Session, actor: Actor, *, token: str, registrant: Registrant, keys: SigningKeys
) -> Redeemed:
    credential = load_desk_credential(session, token, keys, actor.now())
    if credential is None:
        _fail_unmatched(session, actor, "desk")
    return _link(session, actor, credential, registrant, keys, "desk")


def _token_credential_id(token: str, secret_key: str, salt: str, max_age: int | None) -> int | None:
    try:
        payload = URLSafeTimedSerializer(secret_key, salt=salt).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    credential_id = payload.get("c") if isinstance(payload, dict) else None
    return credential_id if isinstance(credential_id, int) else None


# Why a matched credential was not used after all (audit detail; kinds only).
_LINK_FAILURES = {
    RedemptionFailed: "used meanwhile",
    AccountPasswordMismatch: "account password",
    AudienceMismatch: "audience",
}


def _link(
    session: Session, actor: Actor, credential: RegistrationCredential, registrant: Registrant, keys: SigningKeys,
    via: str,
) -> Redeemed:
    """Use the credential (once: the conditional UPDATE lets exactly one redeemer through) and
    link the patient to the registrant's account, creating it if needed, audited in the
    practice. All or nothing."""
    now = actor.now()
    credential_id, patient_id, practice_id = credential.id, credential.patient_id, credential.practice_id
    access_level, audience = credential.access_level, credential.audience
    first_name = credential.patient.first_name
    try:
        won = session.execute(
            update(RegistrationCredential)
            .where(RegistrationCredential.id == credential_id, RegistrationCredential.active_condition(now))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            raise RedemptionFailed()
        # Used: a welcome message still waiting to be sent would carry a dead PIN; erase it now.
        withdraw_messages(session, [credential_id], withdrawn_reason(credential.kind, CredentialState.USED), now)
        user, created = _account_for(session, practice_id, registrant, keys)
        links = list(session.scalars(select(PortalLink).where(PortalLink.portal_user_id == user.id)))
        existing = next((link for link in links if link.patient_id == patient_id), None)
        others = [link for link in links if link.patient_id != patient_id]
        if others and (audience == Audience.MINOR or any(link.audience == Audience.MINOR for link in others)):
            raise AudienceMismatch()
        if existing is None:
            session.add(
                PortalLink(
                    portal_user_id=user.id,
                    patient_id=patient_id,
                    access_level=access_level,
                    audience=audience,
                    credential_id=credential_id,
                    created_at=now,
                )
            )
        else:
            # A new PIN for a patient already linked changes the access to what it carries.
            existing.access_level = access_level
            existing.audience = audience
            existing.credential_id = credential_id
        audit.record(session, actor.in_practice(practice_id), AuditAction.REDEEM, patient_id=patient_id, detail=f"by {via}")
        session_token = None
        if registrant.signs_in_replacing is not None:
            session_token = portal_sessions.start(session, user.id, now, registrant.signs_in_replacing or None)
            audit.record(session, actor.in_practice(practice_id), AuditAction.SIGN_IN, detail=f"portal, registered by {via}")
        session.commit()
    except (RedemptionFailed, AccountPasswordMismatch, AudienceMismatch) as failed:
        session.rollback()
        # The credential and birth date matched: the failure is its practice's to see.
        audit.record_alone(session, actor.in_practice(practice_id), AuditAction.FAILED_REDEEM, AuditOutcome.FAILURE,
                           patient_id=patient_id, detail=f"by {via}: {_LINK_FAILURES[type(failed)]}")
        raise
    except IntegrityError:
        # Two first redemptions creating one email's account at once: the loser tries again.
        session.rollback()
        audit.record_alone(session, actor.in_practice(practice_id), AuditAction.FAILED_REDEEM, AuditOutcome.FAILURE,
                           patient_id=patient_id, detail=f"by {via}: {_LINK_FAILURES[RedemptionFailed]}")
        raise RedemptionFailed() from None
    except BaseException:
        session.rollback()
        raise
    return Redeemed(
        portal_user_id=user.id,
        patient_id=patient_id,
        patient_first_name=first_name,
        access_level=access_level,
        created_account=created,
        session_token=session_token,
    )


def _account_for(session: Session, practice_id: int, registrant: Registrant, keys: SigningKeys) -> tuple[PortalUser, bool]:
    if registrant.portal_user_id is not None:
        user = session.get(PortalUser, registrant.portal_user_id)
        if user is None or user.practice_id != practice_id:
            raise RedemptionFailed()
        return user, False
    user = find_portal_user(session, practice_id, registrant.email or "")
    if user is not None:
        if not (user.password_hash and check_password_hash(user.password_hash, registrant.password or "")):
            raise AccountPasswordMismatch()
        return user, False
    return create_portal_user(session, practice_id, registrant.email or "", registrant.password or "", keys.hash_method), True
