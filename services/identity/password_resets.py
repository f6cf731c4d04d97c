"""Forgotten portal passwords: a single-use reset link mailed to the account's address.

- Asking (`request_reset`) answers the same whether or not the email has an account; the view
  shows one page for both. Each account of that email (one per practice) gets its own link, in a
  message naming its practice, so a parent with accounts at two practices resets each one alone.
- The link carries a random token; the database keeps only its SHA-256 (password_resets), with
  an expiry RESET_LIFETIME ahead. Until the worker sends it, the email (the link is a secret,
  like a PIN) waits encrypted under OUTBOX_KEY in the row (services/delivery/message_cipher.py),
  and nothing logs it.
- Sending (`send_due_resets`) happens in `outbox send`, never in the request that asked: an SMTP
  conversation only for real accounts would tell, by its time, which emails have one. It is at most
  once: the body is erased as the worker takes it, so a failed send is not retried (the parent
  asks again). welcome_messages is not reused: its rows belong to a PIN (credential_id, withdrawal
  when the PIN is spent) and its retries to staff screens.
- Resetting (`reset_password`) spends the link, ends every other outstanding link of the account
  and every portal session of the account, all with the audit row in one transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from models import PasswordReset, PortalUser, Practice
from models.vocabulary import AuditAction, AuditOutcome, PortalSessionEndReason
from services import audit
from services.actor import Actor, unit_of_work
from services.delivery.mail_delivery import DeliveryFailed, OutgoingMail
from services.delivery.message_cipher import BodyUnreadable, MessageCipher
from services.delivery.portal_links import practice_link, with_query
from services.delivery.welcome_messages import render_message
from services.identity import portal_sessions
from services.identity.portal_accounts import password_problem
from services.identity.session_tokens import new_token, token_hash

log = logging.getLogger(__name__)

RESET_LIFETIME = timedelta(minutes=30)
# Links one account may be sent per RESET_LIFETIME, so a stranger cannot fill a parent's inbox.
MAX_LINKS_PER_LIFETIME = 3
# An email has at most one account per practice; this bounds the work one request can cause.
MAX_ACCOUNTS_PER_EMAIL = 5


class ResetLinkInvalid(Exception):
    """Unknown, expired, used or ended by another reset."""


class PasswordRefused(Exception):
    """The new password breaks the portal's rules (password_problem); the message says why."""


def _cipher_key(reset_id: int) -> str:
    # Not a welcome message's id: a body copied between the two tables does not decrypt.
    return f"password-reset-{reset_id}"


def _outstanding(now: datetime):
    return (PasswordReset.used_at.is_(None), PasswordReset.revoked_at.is_(None), PasswordReset.expires_at > now)


def compose_reset_mail(recipient: str, practice_name: str, link: str) -> OutgoingMail:
    context = {"practice_name": practice_name, "link": link, "minutes": int(RESET_LIFETIME.total_seconds() // 60)}
    return OutgoingMail(
        recipient=recipient,
        subject=render_message("messages/password_reset_subject.txt", **context).strip(),
        text=render_message("messages/password_reset.txt", **context),
    )


def request_reset(session: Session, actor: Actor, email: str, reset_url: str, cipher: MessageCipher) -> None:
    """Queue a reset link (`reset_url`?practice=SLUG&token=…) for each account of this email, audited in its
    practice; an email with no account is audited without a practice. Returns nothing: the
    caller's answer must not depend on what happened."""
    now = actor.now()
    users = session.scalars(
        select(PortalUser).where(PortalUser.email == email.strip().lower()).order_by(PortalUser.id).limit(MAX_ACCOUNTS_PER_EMAIL)
    ).all()
    if not users:
        audit.record_alone(session, actor, AuditAction.PASSWORD_RESET_REQUEST, AuditOutcome.FAILURE, detail="no account")
        return
    with unit_of_work(session):
        for user in users:
            in_practice = actor.in_practice(user.practice_id)
            recent = session.scalar(
                select(func.count()).select_from(PasswordReset).where(
                    PasswordReset.portal_user_id == user.id, PasswordReset.created_at > now - RESET_LIFETIME
                )
            )
            if recent >= MAX_LINKS_PER_LIFETIME:
                audit.record(session, in_practice, AuditAction.PASSWORD_RESET_REQUEST, AuditOutcome.REFUSED,
                             detail="too many links")
                continue
            token, hashed = new_token()
            reset = PasswordReset(portal_user_id=user.id, token_hash=hashed, created_at=now, expires_at=now + RESET_LIFETIME)
            session.add(reset)
            session.flush()
            practice = session.get(Practice, user.practice_id)
            # Naming the practice, as every link in a message does; opening it spends nothing
            # (reset_password, the form's POST, does).
            link = with_query(practice_link(reset_url, practice.slug), token=token)
            mail = compose_reset_mail(user.email, practice.name, link)
            reset.body_encrypted = cipher.encrypt(_cipher_key(reset.id), mail)
            audit.record(session, in_practice, AuditAction.PASSWORD_RESET_REQUEST, detail=f"reset link {reset.id}")


def send_due_resets(session: Session, mailer, cipher: MessageCipher, now: datetime) -> tuple[int, int]:
    """One pass of `outbox send` over reset links waiting to go: each is taken once (its body
    erased in the same UPDATE), sent, and the send audited. Links expired or ended meanwhile are
    erased unsent. Returns (sent, not sent)."""
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.body_encrypted.is_not(None), PasswordReset.expires_at <= now)
        .values(body_encrypted=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    sent = failed = 0
    waiting = session.execute(
        select(PasswordReset.id, PasswordReset.body_encrypted, PortalUser.email, PortalUser.practice_id)
        .join(PortalUser, PortalUser.id == PasswordReset.portal_user_id)
        .where(PasswordReset.body_encrypted.is_not(None), *_outstanding(now))
        .order_by(PasswordReset.id)
    ).all()
    for reset_id, body, recipient, practice_id in waiting:
        taken = session.execute(
            update(PasswordReset)
            .where(PasswordReset.id == reset_id, PasswordReset.body_encrypted.is_not(None), *_outstanding(now))
            .values(body_encrypted=None, sent_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
        if taken != 1:
            continue  # another worker took it, or it was spent meanwhile
        worker = Actor.for_command_line(practice_id, clock=lambda: now)
        try:
            mailer.send(cipher.decrypt(_cipher_key(reset_id), recipient, body), practice_id)
        except (DeliveryFailed, BodyUnreadable) as failure:
            failed += 1
            # Not the server's reply: it usually quotes the recipient, tying the email to the account.
            summary = failure.log_summary if isinstance(failure, DeliveryFailed) else "permanent failure (stored body unreadable)"
            log.warning("password reset link %s not sent: %s", reset_id, summary)
            audit.record_alone(session, worker, AuditAction.SEND, AuditOutcome.FAILURE, detail=f"password reset link {reset_id}")
            continue
        sent += 1
        log.info("password reset link %s sent", reset_id)
        audit.record_alone(session, worker, AuditAction.SEND, detail=f"password reset link {reset_id}")
    return sent, failed


def load_reset(session: Session, token: str | None, now: datetime) -> PasswordReset | None:
    """The outstanding reset this link's token names, or None."""
    if not token:
        return None
    return session.scalar(select(PasswordReset).where(PasswordReset.token_hash == token_hash(token), *_outstanding(now)))


def reset_password(session: Session, actor: Actor, token: str | None, new_password: str, hash_method: str) -> int:
    """Set the account's new password with the link's token: the link is spent, the account's
    other links and all its portal sessions end, audited in its practice, in one transaction.
    Returns the account's id. Raises ResetLinkInvalid (audited) or PasswordRefused."""
    now = actor.now()
    reset = load_reset(session, token, now)
    if reset is None:
        audit.record_alone(session, actor, AuditAction.PASSWORD_RESET, AuditOutcome.FAILURE, detail="link not valid")
        raise ResetLinkInvalid()
    user = reset.portal_user
    user_id, reset_id, in_practice = user.id, reset.id, actor.in_practice(user.practice_id)
    problem = password_problem(new_password, user.email)
    if problem:
        raise PasswordRefused(problem)
    try:
        with unit_of_work(session):
            won = session.execute(
                update(PasswordReset)
                .where(PasswordReset.id == reset_id, *_outstanding(now))
                .values(used_at=now, body_encrypted=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won != 1:  # spent by a second tab at the same moment
                raise ResetLinkInvalid()
            session.execute(
                update(PasswordReset)
                .where(PasswordReset.portal_user_id == user_id, PasswordReset.id != reset_id,
                       PasswordReset.used_at.is_(None), PasswordReset.revoked_at.is_(None))
                .values(revoked_at=now, body_encrypted=None)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(PortalUser).where(PortalUser.id == user_id)
                .values(password_hash=generate_password_hash(new_password, method=hash_method))
                .execution_options(synchronize_session=False)
            )
            portal_sessions.end_all_of(session, user_id, PortalSessionEndReason.PASSWORD_RESET, now)
            audit.record(session, in_practice, AuditAction.PASSWORD_RESET, detail=f"reset link {reset_id}")
    except ResetLinkInvalid:
        audit.record_alone(session, in_practice, AuditAction.PASSWORD_RESET, AuditOutcome.FAILURE, detail="link not valid")
        raise
    return user_id
