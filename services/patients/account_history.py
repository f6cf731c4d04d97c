"""The Patient Account page's History: the patient's audit trail as staff read it.

The trail itself (services/audit.py, models/audit.py) keeps what an auditor needs, in the terse
form the CSV export gives ("email 7 sent (on issue)"). Here each row becomes one sentence a
receptionist reads at a glance ("Emailed a PIN to m•••@example.com"), with the masked contact
of the PIN it names, and a run of looks at the account by one person folds into one line
("Viewed the account (8 times)"), so the actions are not lost among them. Read-only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEvent, RegistrationCredential, WelcomeMessage
from models.vocabulary import AuditAction, AuditOutcome

# Rows read; folded views make the lines fewer.
ROWS_READ = 200
LINES_SHOWN = 25


@dataclass(frozen=True)
class HistoryLine:
    at: datetime  # the latest of the rows it stands for
    staff: str | None
    text: str
    failed: bool = False  # a failure or a refusal: shown as such


_ISSUE = re.compile(r"(?P<noun>PIN|verification question) (?P<id>\d+) for the (?P<audience>\w+), (?P<how>.*)")
_LETTER = re.compile(r"(?P<noun>PIN|verification question) (?P<id>\d+) letter")
_REVOKE = re.compile(r"(?P<noun>PIN|verification question) (?P<id>\d+)")
_SEND = re.compile(r"(?P<channel>email|text message) (?P<id>\d+) (?P<status>\w+) \((?P<when>[\w ]+)\)")
_SEND_REFUSED = re.compile(r"message (?P<id>\d+) (?P<when>[\w ]+): (?P<outcome>\w+)")
_REPORT = re.compile(r"(?P<channel>email|text message) (?P<id>\d+) (?P<what>delivered|failed|sent) \((?P<how>[^,)]+)")
_FAILED_REDEEM = re.compile(r"by (?P<via>\w+): failure (?P<count>\d+) of (?P<max>\d+)(?P<locked>; locked)?")

_VERB = {"email": "Emailed", "text message": "Texted"}
_ROAD = {"email": "email", "text message": "text"}
_VIA = {"pin": "with the PIN", "question": "with the verification question", "desk": "at the front desk"}


class _Names:
    """The patient's PINs and messages named by the trail, read once, to say where each went."""

    def __init__(self, session: Session, practice_id: int, patient_id: int):
        credentials = session.scalars(
            select(RegistrationCredential).where(RegistrationCredential.practice_id == practice_id,
                                                 RegistrationCredential.patient_id == patient_id)
        ).all()
        self.credentials = {credential.id: credential for credential in credentials}
        self.messages = {
            message.id: message
            for message in session.scalars(
                select(WelcomeMessage).where(WelcomeMessage.credential_id.in_(list(self.credentials)))
            )
        } if credentials else {}

    def sent_to(self, credential_id: int) -> str | None:
        credential = self.credentials.get(credential_id)
        return credential.sent_to_masked if credential else None

    def message_to(self, message_id: int) -> tuple[str, str | None]:
        """What the message carried ('a PIN' or 'a verification question link') and to whom."""
        message = self.messages.get(message_id)
        if message is None:
            return "a PIN", None
        credential = self.credentials.get(message.credential_id)
        what = "a verification question link" if credential and credential.kind == "question" else "a PIN"
        return what, credential.sent_to_masked if credential else None

    def message_error(self, message_id: int) -> str | None:
        message = self.messages.get(message_id)
        return message.last_error if message else None

    def revoked_reason(self, credential_id: int) -> str | None:
        credential = self.credentials.get(credential_id)
        return credential.revoked_reason if credential else None


def _to(masked: str | None) -> str:
    return f" to {masked}" if masked else ""


def _issue(detail: str, names: _Names) -> str:
    match = _ISSUE.fullmatch(detail)
    if not match:
        return f"Issued: {detail}"
    noun, how = match["noun"], match["how"]
    article = "a PIN" if noun == "PIN" else "a verification question"
    whom = " for the patient (12+)" if match["audience"] == "minor" else ""
    masked = names.sent_to(int(match["id"]))
    if " instead of message " in how:
        road = how.split(" ", 1)[0]
        done = {"emailed": f"to be emailed{_to(masked)}", "texted": f"to be texted{_to(masked)}"}.get(road, "to print")
        return f"Issued {article}{whom} {done}, in place of a message that was not delivered (its {noun} revoked)"
    replacing = ", replacing the pending one (revoked)" if "replacing the pending one" in how else ""
    road = how.removeprefix("send by ").split(",", 1)[0]
    if road == "email":
        return f"Issued {article}{whom}, to be emailed{_to(masked)}{replacing}"
    if road == "text":
        return f"Issued {article}{whom}, to be texted{_to(masked)}{replacing}"
    return f"Issued {article}{whom}, not sent (Do not send PIN){replacing}"


def _send(event: AuditEvent, names: _Names) -> str:
    detail = event.detail or ""
    refused = _SEND_REFUSED.fullmatch(detail)
    if refused:
        why = ("another attempt was already under way" if refused["outcome"] == "taken"
               else "its PIN is no longer active, so nothing was sent")
        return f"{'Retry' if refused['when'] == 'retry' else 'Sending'} did nothing: {why}"
    match = _SEND.fullmatch(detail)
    if not match:
        return f"Sending: {detail}"
    what, masked = names.message_to(int(match["id"]))
    channel, status, when = match["channel"], match["status"], match["when"]
    by = {"retry": "Retry: ", "worker": "Tried again automatically: "}.get(when, "")
    road = _ROAD[channel]
    if status == "sent":
        done = f"{_VERB[channel]} {what}{_to(masked)}"
    elif status == "queued":
        done = f"Could not {road} {what}{_to(masked)} yet; it will be tried again"
    else:
        done = f"Could not {road} {what}{_to(masked)}: gave up"
    return by + (done[0].lower() + done[1:] if by else done)


def _report(detail: str, names: _Names) -> str:
    match = _REPORT.match(detail)
    if not match:
        return f"Delivery report: {detail}"
    channel, what = match["channel"], match["what"]
    _, masked = names.message_to(int(match["id"]))
    if what == "delivered":
        return f"The text{_to(masked)} reached the phone"
    if what == "sent":
        return f"The SMS service took the text{_to(masked)}"
    reason = names.message_error(int(match["id"]))
    kind = "bounced" if match["how"] == "bounce" else "was not delivered"
    noun = "email" if channel == "email" else "text"
    return f"The {noun}{_to(masked)} {kind}" + (f": {reason.rstrip('.')}" if reason else "")


def _failed_redeem(detail: str) -> str:
    match = _FAILED_REDEEM.fullmatch(detail)
    if not match:
        return "A portal registration attempt failed"
    text = f"A portal registration attempt failed (wrong PIN or date of birth; {match['count']} of {match['max']})"
    return text + ("; the PIN is now locked" if match["locked"] else "")


def describe(event: AuditEvent, names: _Names) -> str:
    """One trail row as one sentence."""
    detail = event.detail or ""
    action = event.action
    if action == AuditAction.VIEW_ACCOUNT:
        return "Viewed the account"
    if action == AuditAction.ISSUE:
        return _issue(detail, names)
    if action == AuditAction.PRINT:
        match = _LETTER.fullmatch(detail)
        return "Printed a letter" + (" with a verification question" if match and match["noun"] != "PIN" else " with the PIN")
    if action == AuditAction.SEND:
        return _send(event, names)
    if action == AuditAction.REVOKE:
        match = _REVOKE.fullmatch(detail)
        reason = names.revoked_reason(int(match["id"])) if match else None
        noun = match["noun"] if match else "PIN"
        return f"Revoked the {noun}" + (f": {reason}" if reason else "")
    if action == AuditAction.REDEEM:
        via = _VIA.get(detail.removeprefix("by "), "")
        return f"Registered for the portal {via}".rstrip()
    if action == AuditAction.FAILED_REDEEM:
        return _failed_redeem(detail)
    if action == AuditAction.BASIC_INFO_CHANGE:
        return "Updated Basic Info (first and last name)" if detail == "first and last name" else "Updated Basic Info"
    if action == AuditAction.DELIVERY_REPORT:
        return _report(detail, names)
    return f"{action.capitalize()}" + (f": {detail}" if detail else "")


def account_history(session: Session, practice_id: int, patient_id: int) -> list[HistoryLine]:
    """The patient's latest events, newest first, one sentence each; consecutive looks at the
    account by one person folded into one line."""
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.practice_id == practice_id, AuditEvent.patient_id == patient_id)
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(ROWS_READ)
    ).all()
    names = _Names(session, practice_id, patient_id)
    lines: list[HistoryLine] = []
    views = 0
    for event in events:
        previous = lines[-1] if lines else None
        if (event.action == AuditAction.VIEW_ACCOUNT and previous is not None and views
                and previous.staff == event.staff_username):
            views += 1
            lines[-1] = HistoryLine(previous.at, previous.staff, f"Viewed the account {views} times")
            continue
        if len(lines) == LINES_SHOWN:
            break
        views = 1 if event.action == AuditAction.VIEW_ACCOUNT else 0
        lines.append(HistoryLine(event.occurred_at, event.staff_username, describe(event, names),
                                 failed=event.outcome != AuditOutcome.SUCCESS))
    return lines
