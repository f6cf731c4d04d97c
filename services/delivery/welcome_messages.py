"""The words of a welcome message: email, text message and printed letter.

An email and a letter may name the patient's first name; a text message names no patient and
fits one 160-character GSM-7 segment. The words are Jinja templates in templates/messages/,
rendered here from plain values (services have no app context of their own): `.html` ones
escape every value, `.txt` ones keep values as they are. The registration steps are written
once, in templates/messages/_registration_steps.txt, and every message that lists them imports
them; registration/_letter.html includes messages/letter.html through Flask's environment, which
autoescapes the same way.

Links come from WelcomeDetails (`practice_link`, `pin_link`, built in
services/delivery/portal_links.py), so no template builds a URL.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from services.delivery import portal_links

SMS_LIMIT = 160
# As long as any slug may be (models/practice.py SLUG_MAX_LENGTH): a fit check with it holds for
# every practice.
LONGEST_SLUG = "w" * 40
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


# Names as Flask's own loader sees them ("messages/email.txt"), so a page can include them too.
_MESSAGES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[2] / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    # A misspelt value fails loudly rather than vanishing from a message.
    undefined=StrictUndefined,
)
_MESSAGES.filters["gsm7"] = to_gsm7


@dataclass(frozen=True)
class WelcomeDetails:
    """Everything a welcome message may say: the PIN, or the question link instead."""

    practice_name: str
    # The practice's slug, which every link names (`?practice=SLUG`).
    practice_slug: str
    portal_url: str
    expires_at: datetime
    timezone: str
    patient_first_name: str
    pin: str | None = None
    question_link: str | None = None

    @property
    def practice_link(self) -> str:
        """The portal URL naming the practice: what a text message and a letter print."""
        return portal_links.practice_link(self.portal_url, self.practice_slug)

    @property
    def pin_link(self) -> str | None:
        """The email's link, the PIN in its fragment (`…?practice=SLUG#pin=XXXX-XXXX`); None
        for a verification question, whose link is `question_link`."""
        return portal_links.pin_link(self.portal_url, self.practice_slug, self.pin) if self.pin else None

    @property
    def letter_qr_svg(self) -> Markup:
        """The printed letter's QR code of the email's link (or the question link), as inline SVG:
        no style attribute (the CSP's style-src 'self' would refuse one); the stylesheet sizes it."""
        qr = segno.make(self.pin_link or self.question_link or self.practice_link, error="m")
        return Markup(qr.svg_inline(omitsize=True, svgclass="letter-qr-code", lineclass=None,
                                    title="QR code of the registration link"))

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


def _render(template_name: str, **context) -> str:
    return _MESSAGES.get_template(template_name).render(**context)


def render_message(template_name: str, **context) -> str:
    """Any message in templates/messages/ (the password-reset email too), rendered the same way."""
    return _render(template_name, **context)


def compose_email(details: WelcomeDetails) -> ComposedEmail:
    return ComposedEmail(
        subject=_render("messages/email_subject.txt", details=details),
        text=_render("messages/email.txt", details=details),
        html=_render("messages/email.html", details=details),
    )


def text_message_wordings(details: WelcomeDetails) -> Iterator[str]:
    """Every wording of the text message, the fullest first: the full core with the expiry and the
    practice's name, then without the name, then bare; then the same with the shortest core."""
    for short in (False, True):
        for with_expiry, with_practice in ((True, True), (True, False), (False, False)):
            yield _render(
                "messages/text.txt", details=details, short=short, with_expiry=with_expiry, with_practice=with_practice
            )


def compose_text_message(details: WelcomeDetails) -> str | None:
    """One GSM-7 segment naming no patient, or None when the portal URL leaves no room.

    Always the PIN (or link) and the portal URL; then the expiry and practice name as they fit.
    """
    for candidate in text_message_wordings(details):
        length = gsm7_length(candidate)
        if length is not None and length <= SMS_LIMIT:
            return candidate
    return None


def letter_text(details: WelcomeDetails) -> str:
    """The printed PIN letter's words (templates/messages/letter.txt)."""
    return _render("messages/letter.txt", details=details)


def text_message_possible(portal_url: str, slug: str = LONGEST_SLUG, sample_link: str | None = None) -> bool:
    """Whether a text message always fits with this portal URL naming the practice `slug` (by
    default the longest a slug may be): a PIN's, or with `sample_link` (a longest-case question
    link) a verification question's. Practice name and expiry are optional extras, so only the
    mandatory parts are measured."""
    details = WelcomeDetails(
        practice_name="",
        practice_slug=slug,
        portal_url=portal_url,
        expires_at=datetime(2000, 9, 30, tzinfo=UTC),
        timezone="UTC",
        patient_first_name="",
        pin=None if sample_link else "WWWW-WWWW",
        question_link=sample_link,
    )
    return compose_text_message(details) is not None
