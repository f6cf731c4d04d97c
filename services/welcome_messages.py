"""The words of a welcome message: email, text message and printed letter (CONTRACT section 2).

An email and a letter may name the patient's first name; a text message names no patient and
fits one 160-character GSM-7 segment.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

SMS_LIMIT = 160
# GSM 03.38 basic character set; the extension set costs two characters each.
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€")


def gsm7_length(text: str) -> int | None:
    """Septets the text needs in GSM-7, or None when it has a character GSM-7 lacks."""
    total = 0
    for ch in text:
        if ch in _GSM_BASIC:
            total += 1
        elif ch in _GSM_EXTENDED:
            total += 2
        else:
            return None
    return total


def to_gsm7(text: str) -> str:
    """Best-effort transliteration (accents dropped, unknown characters removed)."""
    out = []
    for ch in text:
        if ch in _GSM_BASIC or ch in _GSM_EXTENDED:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append("".join(c for c in base if c in _GSM_BASIC))
    return " ".join("".join(out).split())


@dataclass(frozen=True)
class WelcomeDetails:
    """Everything a welcome message may say. `secret` is the PIN or the question link."""

    practice_name: str
    portal_url: str
    expires_at: datetime
    timezone: str
    patient_first_name: str
    pin: str | None = None
    question_link: str | None = None

    @property
    def expires_local(self) -> datetime:
        return self.expires_at.astimezone(ZoneInfo(self.timezone))

    @property
    def expires_long(self) -> str:
        local = self.expires_local
        return f"{local:%A, %B} {local.day}, {local.year} at {local:%I:%M %p %Z}".replace(" 0", " ")

    @property
    def expires_short(self) -> str:
        local = self.expires_local
        return f"{local:%b} {local.day}"


@dataclass(frozen=True)
class ComposedEmail:
    subject: str
    text: str
    html: str


def registration_steps(details: WelcomeDetails) -> list[str]:
    if details.pin:
        return [
            f"Open {details.portal_url}",
            "Enter your email address and choose a password.",
            f"Enter {details.patient_first_name}'s date of birth and the PIN {details.pin}.",
            "Accept the Terms & Conditions and select Create My Account.",
        ]
    return [
        f"Open the link: {details.question_link}",
        "Answer the question the practice asked you.",
        "Enter your email address and choose a password, then select Create My Account.",
    ]


def compose_email(details: WelcomeDetails) -> ComposedEmail:
    from markupsafe import escape

    subject = f"Your {details.practice_name} patient portal registration"
    if details.pin:
        secret_line = f"Your registration PIN: {details.pin}"
    else:
        secret_line = f"Your registration link: {details.question_link}"
    steps = registration_steps(details)
    text = "\n".join(
        [
            "Hello,",
            "",
            f"{details.practice_name} invites you to register for its patient portal "
            f"for {details.patient_first_name}.",
            "",
            secret_line,
            f"Portal: {details.portal_url}",
            f"It expires {details.expires_long} and works once.",
            "",
            "How to register:",
            *[f"{n}. {step}" for n, step in enumerate(steps, 1)],
            "",
            f"If you did not expect this message, call {details.practice_name}.",
        ]
    )
    html_steps = "".join(f"<li>{escape(step)}</li>" for step in steps)
    html = (
        "<!doctype html><html lang=\"en\"><body>"
        "<p>Hello,</p>"
        f"<p>{escape(details.practice_name)} invites you to register for its patient portal for "
        f"{escape(details.patient_first_name)}.</p>"
        f"<p><strong>{escape(secret_line)}</strong></p>"
        f"<p>Portal: <a href=\"{escape(details.portal_url)}\">{escape(details.portal_url)}</a></p>"
        f"<p>It expires {escape(details.expires_long)} and works once.</p>"
        f"<p>How to register:</p><ol>{html_steps}</ol>"
        f"<p>If you did not expect this message, call {escape(details.practice_name)}.</p>"
        "</body></html>"
    )
    return ComposedEmail(subject=subject, text=text, html=html)


def compose_text_message(details: WelcomeDetails) -> str | None:
    """One GSM-7 segment naming no patient, or None when the portal URL leaves no room.

    Always the PIN (or link) and the portal URL; then the expiry and practice name as they fit.
    """
    url = to_gsm7(details.portal_url)
    if details.pin:
        cores = [f"Patient portal PIN {details.pin}. Register at {url}", f"PIN {details.pin} {url}"]
    else:
        link = to_gsm7(details.question_link or "")
        cores = [f"Register for the patient portal: {link}", link]
    practice = to_gsm7(details.practice_name)
    extras_options = [
        [f"Expires {details.expires_short}.", f"- {practice}"],
        [f"Expires {details.expires_short}."],
        [],
    ]
    for core in cores:
        for extras in extras_options:
            candidate = " ".join([core, *extras]) if extras else core
            length = gsm7_length(candidate)
            if length is not None and length <= SMS_LIMIT:
                return candidate
    return None


def text_message_possible(portal_url: str, sample_link: str | None = None) -> bool:
    """Whether a text message always fits with this portal URL: a PIN's, or with `sample_link`
    (a longest-case question link) a verification question's. Practice name and expiry are
    optional extras, so only the mandatory parts are measured."""
    details = WelcomeDetails(
        practice_name="",
        portal_url=portal_url,
        expires_at=datetime(2000, 9, 30, tzinfo=timezone.utc),
        timezone="UTC",
        patient_first_name="",
        pin=None if sample_link else "WWWW-WWWW",
        question_link=sample_link,
    )
    return compose_text_message(details) is not None
