"""One delivery timeline per PIN, as the Patient Account page shows it: issued (by whom, how),
each step of its welcome message (delivery_events: queued, each attempt, handed over, delivered,
bounced or undelivered with the reason, opted out), then redeemed, revoked or expired. A PIN
issued instead of an undelivered one (Print, Text or Email instead) names it, and the replaced
PIN's timeline names its replacement. No open tracking: nothing here comes from the parent's
mail client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from models import RegistrationCredential
from models.vocabulary import Audience, Channel, CredentialState, DeliveryEventKind, SendBy

_EVENT_WORDS = {
    DeliveryEventKind.QUEUED: "Queued",
    DeliveryEventKind.HANDED_OVER: "Sent",
    DeliveryEventKind.RETRY_LATER: "Not delivered yet",
    DeliveryEventKind.FAILED: "Failed",
    DeliveryEventKind.CARRIER_ACCEPTED: "With the carrier",
    DeliveryEventKind.DELIVERED: "Delivered",
    DeliveryEventKind.UNDELIVERED: "Undelivered",
    DeliveryEventKind.OPTED_OUT: "Opted out",
    DeliveryEventKind.BOUNCED: "Bounced",
    DeliveryEventKind.DELAYED: "Delayed",
}
_ROAD = {SendBy.EMAIL: "by email", SendBy.TEXT: "by text message", SendBy.NONE: "printed"}


@dataclass(frozen=True)
class Step:
    at: datetime
    kind: str  # for the page's styling: issued, a DeliveryEventKind value, redeemed, revoked, expired
    label: str
    detail: str | None = None


def _how_issued(credential: RegistrationCredential) -> str:
    message = credential.welcome_message
    if message is not None:
        road = "email" if message.channel == Channel.EMAIL else "text message"
        how = f"to send by {road} to {credential.sent_to_masked}"
        if message.channel == Channel.SMS:
            how += " through the SMS service"
    elif credential.send_by == SendBy.NONE:
        # Issued in place of an undelivered PIN and sent by no road: Print instead printed it.
        how = "printed" if credential.instead_of_id is not None else "not sent (Do not send PIN)"
    else:
        how = "not sent"
    replaced = credential.instead_of
    if replaced is not None:
        old = replaced.welcome_message
        what = ("email" if old.channel == Channel.EMAIL else "text message") if old is not None else "message"
        how += f", instead of the {what} to {replaced.sent_to_masked or 'the recipient'} that was not delivered"
    return how


def pin_timeline(credential: RegistrationCredential, now: datetime) -> list[Step]:
    """The credential's steps, oldest first."""
    who = credential.issued_by.username if credential.issued_by else None
    steps = [Step(credential.issued_at, "issued", f"Issued{' by ' + who if who else ''}",
                  f"{credential.kind_label} for the {credential.audience_label}, {_how_issued(credential)}.")]
    message = credential.welcome_message
    if message is not None:
        for event in message.events:
            steps.append(Step(event.at, event.kind, _EVENT_WORDS.get(event.kind, event.kind), event.detail))
    if credential.used_at is not None:
        registrant = "the minor" if credential.audience == Audience.MINOR else "the parent"
        steps.append(Step(credential.used_at, "redeemed", "Redeemed", f"Used by {registrant} to open a portal account."))
    if credential.revoked_at is not None:
        replacement = credential.replaced_by
        if replacement is not None:
            road = _ROAD.get(replacement.send_by, "")
            detail = f"Replaced by a new PIN {road}, issued instead because this one was not delivered."
        else:
            detail = credential.revoked_reason
        steps.append(Step(credential.revoked_at, "revoked", "Revoked", detail))
    elif credential.state(now) == CredentialState.EXPIRED:
        steps.append(Step(credential.expires_at, "expired", "Expired", None))
    # Stable for equal times: the issue first, then the order the steps were written.
    return sorted(steps, key=lambda step: step.at)
