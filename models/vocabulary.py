"""The domain's words, one enum each. Values are the strings the database, the templates and the
CSV hold: a member equals its string, so rows read back as plain strings compare with members.

A column's CHECK constraint is generated from its enum (`one_of`), in member order, so the
enum's order is the order the migrations wrote the constraint in."""

from __future__ import annotations

from enum import StrEnum


def one_of(column: str, vocabulary: type[StrEnum]) -> str:
    """SQL for "`column` holds one of the vocabulary's values": `kind IN ('pin', 'question')`."""
    values = [member.value for member in vocabulary]
    if any("'" in value for value in values):
        raise ValueError(f"{vocabulary.__name__}: a value with a quote needs escaping in SQL")
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class CredentialKind(StrEnum):
    """What a registration credential asks of the parent."""

    PIN = "pin"
    QUESTION = "question"

    @property
    def noun(self) -> str:
        """As a sentence names it: 'the PIN', 'this verification question'."""
        return "PIN" if self is CredentialKind.PIN else "verification question"

    @property
    def label(self) -> str:
        """As a heading or an option names it."""
        return "PIN" if self is CredentialKind.PIN else "Verification Question"


class Audience(StrEnum):
    """Whose portal account a credential or link is for: the parent's, or the teenager's own."""

    GUARDIAN = "guardian"
    MINOR = "minor"

    @property
    def label(self) -> str:
        return "Parent/Guardian" if self is Audience.GUARDIAN else "Minor"


class AccessLevel(StrEnum):
    FULL = "full"
    LIMITED = "limited"


class SendBy(StrEnum):
    """How staff chose to deliver a credential's welcome message (NONE: printed or read out)."""

    EMAIL = "email"
    TEXT = "text"
    NONE = "none"


class Channel(StrEnum):
    """How a welcome message travels: an email, an email to the carrier's text gateway (TEXT), or
    a text through the SMS service (SMS: Twilio's Messaging API, to an E.164 number)."""

    EMAIL = "email"
    TEXT = "text"
    SMS = "sms"

    @property
    def is_text(self) -> bool:
        return self is not Channel.EMAIL


class MessageStatus(StrEnum):
    """A welcome message's delivery state. SENT: a mail server or the SMS service took it;
    DELIVERED: a receipt says it reached the phone; FAILED: it did not arrive (with the reason),
    which a bounce or an undelivered receipt can also say after SENT."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class DeliveryEventKind(StrEnum):
    """One step of a welcome message's journey, as its PIN's delivery timeline shows it
    (delivery_events). The PIN's own steps (issued, redeemed, revoked, expired) are read from
    its credential."""

    QUEUED = "queued"
    HANDED_OVER = "handed over"  # an attempt: the mail server or the SMS service took it
    RETRY_LATER = "retry later"  # an attempt that failed for now; tried again later
    FAILED = "failed"  # an attempt refused for good, or given up, or withdrawn
    CARRIER_ACCEPTED = "carrier accepted"  # the SMS service handed it to the carrier
    DELIVERED = "delivered"  # a receipt: it reached the phone
    UNDELIVERED = "undelivered"  # a receipt: it did not
    OPTED_OUT = "opted out"  # the number replied STOP to the practice's texts
    BOUNCED = "bounced"  # a permanent bounce came back
    DELAYED = "delayed"  # a temporary bounce (a delay notice): noted only


class CredentialState(StrEnum):
    """A credential's own state (RegistrationCredential.state); the values are what staff read."""

    ACTIVE = "Active"
    USED = "Used"
    REVOKED = "Revoked"
    LOCKED = "Locked"
    EXPIRED = "Expired"


class PortalStatus(StrEnum):
    """A patient's portal status: as imported (patients.imported_portal_status) and as derived
    (services/patients/portal_status.py). Member order is the CHECK's; the derivation has its own order."""

    UNREGISTERED = "unregistered"
    PENDING = "pending"
    REGISTERED = "registered"
    SELF_REGISTERED = "self_registered"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").title()


class RedemptionMode(StrEnum):
    """What the parent's registration page asks for: a PIN, a question link's answer, or nothing
    more than the desk token the front desk opened it with."""

    PIN = "pin"
    QUESTION = "question"
    DESK = "desk"


class AuditAction(StrEnum):
    SEARCH = "search"
    VIEW_ACCOUNT = "view account"
    ISSUE = "issue"
    SEND = "send"
    PRINT = "print"
    REVOKE = "revoke"
    REDEEM = "redeem"
    FAILED_REDEEM = "failed redeem"
    LAUNCH = "launch"
    SIGN_IN = "sign-in"
    SIGN_OUT = "sign-out"
    IMPORT = "import"
    BASIC_INFO_CHANGE = "basic-info change"
    RETRY = "retry"
    EXPORT = "export"
    CHOOSE_PRACTICE = "choose practice"
    SETTINGS_CHANGE = "settings change"
    PASSWORD_RESET_REQUEST = "password reset request"
    PASSWORD_RESET = "password reset"
    # A delivery receipt or a bounce that changed what staff see of a message.
    DELIVERY_REPORT = "delivery report"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"


class SessionVia(StrEnum):
    """How a staff session began: the sign-in form, or a launch token from the practice system."""

    SIGNIN = "signin"
    LAUNCH = "launch"


class SessionEndReason(StrEnum):
    """Why a staff session is not live. The first five are stored (staff_sessions.end_reason);
    NONE (no cookie) and UNKNOWN (no such session) are only ever reported."""

    SIGNED_OUT = "signed out"
    REPLACED = "replaced"
    IDLE = "idle"
    TOO_OLD = "too old"
    MEMBERSHIP = "membership"
    NONE = "none"
    UNKNOWN = "unknown"


class PortalSessionEndReason(StrEnum):
    """Why a parent's portal session ended (portal_sessions.end_reason). IDLE and TOO_OLD are
    found when the session is next used; PASSWORD_RESET ends every session of the account."""

    SIGNED_OUT = "signed out"
    REPLACED = "replaced"
    IDLE = "idle"
    TOO_OLD = "too old"
    PASSWORD_RESET = "password reset"


class TemplateKind(StrEnum):
    """The welcome messages a practice can word itself."""

    EMAIL = "email"
    TEXT = "text"
    LETTER = "letter"


class ThrottleScope(StrEnum):
    """What a growing delay (services/throttle.py) counts failures of, each by its own key."""

    # Portal PIN entries that failed, by the date of birth typed (wrong PINs lock nothing).
    BIRTH_DATE = "birth date"
    # Staff sign-ins that failed, by the username typed (known or not).
    STAFF_USERNAME = "staff username"
