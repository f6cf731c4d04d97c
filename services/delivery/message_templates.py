"""A practice's own wording for its PIN welcome messages, and the checks that keep it within
what a welcome message may say.

A template is plain text with placeholders in braces (`{pin}`); `{{` and `}}` stand for a brace
itself, and a single brace on its own is refused. `string.Formatter().parse` reads a template;
the values are substituted here, one by one from its pieces, never with `str.format`, so a
template cannot reach anything but the values below, and a placeholder is only its name: a
format spec (`{pin:.0}` would print nothing), a conversion (`{pin!r}`), an attribute (`{pin.x}`)
or an index (`{pin[0]}`) is refused. A practice without a template of a kind gets the built-in
wording: the built-in messages (templates/messages/) with each value replaced by its
placeholder. Templates word PIN messages; a verification question's message keeps the built-in
wording, whose steps and link differ (and a link leaves no room in a text message).

`{portal_url}` is the portal's link naming the practice (`…?practice=SLUG`, WelcomeDetails); in
an email it also carries the PIN in its fragment (`…#pin=XXXX-XXXX`), which fills the PIN in.

Saving is refused (`problems`) when a template:
- lacks the PIN, the portal URL, the expiry or the practice's name;
- names the patient beyond `{patient_first_name}` (an email or a letter), or names the patient
  at all (a text message);
- would pass one 160-character GSM-7 text message with the longest values;
- has a subject holding a line break or another control character (models/header_values.py).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import NamedTuple

from markupsafe import Markup, escape
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import MessageTemplate, Practice
from models.header_values import breaks_a_header
from models.message_template import BODY_MAX_LENGTH, SUBJECT_MAX_LENGTH
from models.vocabulary import AuditAction
from services import audit
from services.actor import Actor, unit_of_work
from services.delivery.portal_links import practice_link
from services.delivery.welcome_messages import (
    SMS_LIMIT,
    ComposedEmail,
    WelcomeDetails,
    compose_email,
    compose_text_message,
    gsm7_length,
    letter_text,
    text_message_wordings,
    to_gsm7,
)

PLACEHOLDERS = {
    "pin": "the PIN",
    "portal_url": "the portal's address",
    "expires": "when the PIN expires",
    "practice_name": "the practice's name",
    "patient_first_name": "the patient's first name (not in a text message)",
}
REQUIRED = ("pin", "portal_url", "expires", "practice_name")
# Words of a placeholder that would name the patient: refused with that reason rather than as
# merely unknown, so an admin learns why.
_PATIENT_WORDS = {
    "patient", "child", "name", "last", "first", "full", "birth", "dob", "birthday", "age", "chart",
    "sex", "gender", "guardian", "parent", "email", "cell", "phone", "address", "mrn",
}

KIND_LABELS = {"email": "Email", "text": "Text message", "letter": "Printed letter"}
# A PIN as long as any (every PIN has this shape) and the widest short expiry ("Sep 30").
LONGEST_PIN = "WWWW-WWWW"
LONGEST_SHORT_EXPIRY = "Sep 30"

# A letter prints on one Letter page (tests/browser/test_message_templates.py prints the worst
# cases these allow to PDF and counts one page).
LETTER_MAX_CHARACTERS = 1200
LETTER_MAX_LINES = 24

_NUMBERED = re.compile(r"^\s*\d+[.)]\s+")
_FORMATTER = string.Formatter()
BRACE_PROBLEM = "A brace must enclose a placeholder such as {pin}; write {{ or }} for a brace itself."

# The built-in PIN messages with each value written as its placeholder: the wording a practice
# without its own template sends, and where the editor starts.
_AS_PLACEHOLDERS = SimpleNamespace(
    practice_name="{practice_name}",
    portal_url="{portal_url}",
    practice_link="{portal_url}",
    pin_link="{portal_url}",
    pin="{pin}",
    expires_long="{expires}",
    expires_short="{expires}",
    patient_first_name="{patient_first_name}",
    question_link=None,
)
_BUILT_IN_EMAIL = compose_email(_AS_PLACEHOLDERS)
DEFAULT_EMAIL_SUBJECT = _BUILT_IN_EMAIL.subject
DEFAULT_EMAIL_BODY = _BUILT_IN_EMAIL.text
# The fullest wording: the built-in text message sends it whenever it fits.
DEFAULT_TEXT_BODY = next(text_message_wordings(_AS_PLACEHOLDERS))
DEFAULT_LETTER_BODY = letter_text(_AS_PLACEHOLDERS)
DEFAULTS = {
    "email": (DEFAULT_EMAIL_SUBJECT, DEFAULT_EMAIL_BODY),
    "text": (None, DEFAULT_TEXT_BODY),
    "letter": (None, DEFAULT_LETTER_BODY),
}


class TemplateSyntaxProblem(ValueError):
    pass


class Piece(NamedTuple):
    """Literal text (`{{` read as one brace), then the placeholder after it, if any."""

    literal: str
    # Between the braces exactly as written (`pin`, ` pin `, `pin:.0`); None: no placeholder.
    field: str | None = None
    # The name the placeholder starts with, before any `!`, `:`, `.` or `[`, stripped.
    name: str | None = None


def pieces_of(template: str) -> list[Piece]:
    """The template as `string.Formatter().parse` reads it. Raises TemplateSyntaxProblem on a
    brace that neither encloses a placeholder nor is doubled."""
    pieces: list[Piece] = []
    # Where the next piece starts in `template`: parse reports `{pin:}` as `{pin}` (an empty spec
    # is no spec), so each field is also taken as written, to refuse that one too.
    position = 0
    try:
        for literal, field_name, format_spec, conversion in _FORMATTER.parse(template):
            # Every brace in a literal was written twice (a single one raises).
            position += len(literal) + literal.count("{") + literal.count("}")
            if field_name is None:
                pieces.append(Piece(literal))
                continue
            end = position + 1 + len(field_name) + (2 if conversion else 0)
            if template[end] == ":":
                end += 1 + len(format_spec)
            name = re.split(r"[.\[]", field_name, maxsplit=1)[0].strip()
            pieces.append(Piece(literal, template[position + 1 : end], name))
            position = end + 1
    except ValueError:
        raise TemplateSyntaxProblem(BRACE_PROBLEM) from None
    return pieces


def render(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced by its value (KeyError: one `problems` refuses)."""
    return "".join(
        piece.literal + (values[piece.field.strip()] if piece.field is not None else "")
        for piece in pieces_of(template)
    )


@dataclass(frozen=True)
class Problem:
    field: str  # "subject" or "body"
    text: str


def problems(kind: str, subject: str | None, body: str, practice: Practice, portal_url: str) -> list[Problem]:
    """Why this template may not be saved for `practice` (empty: it may)."""
    found: list[Problem] = []
    body = body or ""
    parts = {"body": body}
    if kind == "email":
        subject = subject or ""
        if not subject.strip():
            found.append(Problem("subject", "Write a subject."))
        elif len(subject) > SUBJECT_MAX_LENGTH:
            found.append(Problem("subject", f"The subject has {len(subject)} characters; at most {SUBJECT_MAX_LENGTH}."))
        if breaks_a_header(subject):
            # Any of them could end the Subject header and start another (models/header_values.py).
            found.append(Problem("subject", "The subject must be one line of text, without line breaks or other control characters."))
        parts["subject"] = subject
    if not body.strip():
        return [*found, Problem("body", "Write the message: it is empty.")]
    if len(body) > BODY_MAX_LENGTH:
        found.append(Problem("body", f"The message has {len(body)} characters; at most {BODY_MAX_LENGTH}."))
    if kind == "letter":
        lines = len(body.strip().splitlines())
        if len(body) > LETTER_MAX_CHARACTERS or lines > LETTER_MAX_LINES:
            found.append(Problem(
                "body",
                f"A letter must fit one page: at most {LETTER_MAX_CHARACTERS} characters and {LETTER_MAX_LINES} "
                f"lines (this one has {len(body)} and {lines}).",
            ))
    fields: dict[str, list[str]] = {}
    for where, text in parts.items():
        try:
            placeholders = [piece for piece in pieces_of(text) if piece.field is not None]
        except TemplateSyntaxProblem as problem:
            found.append(Problem(where, str(problem)))
            placeholders = []
        fields[where] = [piece.field.strip() for piece in placeholders]
        # Each placeholder once, as written (its first occurrence).
        for placeholder in {piece.field: piece for piece in reversed(placeholders)}.values():
            refusal = _placeholder_refusal(kind, placeholder)
            if refusal:
                found.append(Problem(where, refusal))
    if not any(problem.field == "body" for problem in found):
        for name in REQUIRED:
            if name not in fields["body"]:
                found.append(Problem("body", f"The message must contain {{{name}}} ({PLACEHOLDERS[name]})."))
    if "pin" in fields.get("subject", []):
        found.append(Problem("subject", "The subject may not carry the PIN: it shows in inbox lists and on lock screens."))
    if kind == "text" and not found:
        found.extend(Problem("body", text) for text in _text_problems(body, practice, portal_url))
    return found


def _placeholder_refusal(kind: str, placeholder: Piece) -> str | None:
    name = placeholder.field.strip()
    if name == "patient_first_name" and kind == "text":
        return "A text message may not name the patient: remove {patient_first_name}."
    if kind != "text" and ("\n" in placeholder.field or "\r" in placeholder.field):
        # An email's or a letter's HTML is laid out line by line (`render_html`), where a
        # placeholder split across lines would read as stray braces.
        return "Write each placeholder on one line, such as {pin}."
    if name in PLACEHOLDERS:
        return None
    if placeholder.name in PLACEHOLDERS:
        return (
            f"{{{name}}} is not a placeholder: write {{{placeholder.name}}} alone, with nothing after "
            "the name (no format after :, conversion after !, . or [ ])."
        )
    if set(re.split(r"[^a-z]+", name.lower())) & _PATIENT_WORDS:
        if kind == "text":
            return f"A text message may not name the patient: remove {{{name}}}."
        return f"{{{name}}} would say more about the patient than the first name: only {{patient_first_name}} may be used."
    return f"{{{name}}} is not a placeholder. Use " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + "."


def _text_problems(body: str, practice: Practice, portal_url: str) -> list[str]:
    literal = "".join(piece.literal for piece in pieces_of(body))
    if gsm7_length(literal) is None:
        odd = "".join(dict.fromkeys(ch for ch in literal if gsm7_length(ch) is None))
        return [f"A text message cannot carry these characters: {odd}"]
    length = longest_text_length(body, practice, portal_url)
    if length > SMS_LIMIT:
        return [
            f"With the longest values this text message has {length} characters; one text message "
            f"holds {SMS_LIMIT}. Shorten it by {length - SMS_LIMIT}."
        ]
    return []


def longest_text_length(body: str, practice: Practice, portal_url: str) -> int:
    """The GSM-7 length of the text message with the longest PIN and expiry, and this practice's
    name and portal link (naming its slug) as a text message carries them."""
    values = {
        "pin": LONGEST_PIN,
        "expires": LONGEST_SHORT_EXPIRY,
        "portal_url": to_gsm7(practice_link(portal_url, practice.slug)),
        "practice_name": to_gsm7(practice.name),
    }
    return gsm7_length(render(body, values)) or 0


def values_for(kind: str, details: WelcomeDetails) -> dict[str, str]:
    """The placeholders' values in a message of `kind`. `{portal_url}` is the practice's link; an
    email's carries the PIN too (WelcomeDetails.pin_link), a text message's and a letter's do not
    (the PIN is printed beside it, and the letter's QR code carries the email's link)."""
    if kind == "text":
        return {
            "pin": details.pin or "",
            "portal_url": to_gsm7(details.practice_link),
            "expires": details.expires_short,
            "practice_name": to_gsm7(details.practice_name),
        }
    return {
        "pin": details.pin or "",
        "portal_url": (details.pin_link if kind == "email" else None) or details.practice_link,
        "expires": details.expires_long,
        "practice_name": details.practice_name,
        "patient_first_name": details.patient_first_name,
    }


def render_html(template: str, details: WelcomeDetails, big_pin: bool = False) -> Markup:
    """The HTML of an email body or, with `big_pin`, a letter: paragraphs at blank lines, numbered
    lines as a list, the portal URL as a link and the PIN in bold (a line holding only the PIN:
    large, in a letter). Every value and every word of the template is escaped."""
    values = values_for("letter" if big_pin else "email", details)

    def line_html(line: str) -> str:
        out = []
        for piece in pieces_of(line):
            out.append(str(escape(piece.literal)))
            if piece.field is None:
                continue
            name = piece.field.strip()
            if name == "portal_url":
                out.append(f'<a href="{escape(values[name])}">{escape(values[name])}</a>')
            elif name == "pin":
                out.append(f'<strong class="pin">{escape(values[name])}</strong>')
            else:
                out.append(str(escape(values[name])))
        return "".join(out)

    def only_the_pin(line: str) -> bool:
        return [(p.literal, p.field and p.field.strip()) for p in pieces_of(line.strip())] == [("", "pin")]

    blocks = []
    for block in re.split(r"\n\s*\n", template.replace("\r\n", "\n").strip()):
        lines = [line for line in block.split("\n") if line.strip()]
        plain: list[str] = []
        numbered: list[str] = []
        for line in lines + [None]:
            if big_pin and line is not None and only_the_pin(line):
                if plain:
                    blocks.append("<p>" + "<br>".join(plain) + "</p>")
                    plain = []
                blocks.append(f'<p class="letter-pin">{escape(values["pin"])}</p>')
                continue
            if line is not None and _NUMBERED.match(line):
                if plain:
                    blocks.append("<p>" + "<br>".join(plain) + "</p>")
                    plain = []
                numbered.append("<li>" + line_html(_NUMBERED.sub("", line, count=1)) + "</li>")
                continue
            if numbered:
                blocks.append("<ol>" + "".join(numbered) + "</ol>")
                numbered = []
            if line is not None:
                plain.append(line_html(line))
        if plain:
            blocks.append("<p>" + "<br>".join(plain) + "</p>")
    return Markup("\n".join(blocks))


@dataclass(frozen=True)
class PracticeTemplates:
    """The practice's templates by kind (absent: built-in wording)."""

    by_kind: dict[str, MessageTemplate]

    def get(self, kind: str) -> MessageTemplate | None:
        return self.by_kind.get(kind)

    def subject_and_body(self, kind: str) -> tuple[str | None, str]:
        saved = self.by_kind.get(kind)
        return (saved.subject, saved.body) if saved else DEFAULTS[kind]


def load(session: Session, practice_id: int) -> PracticeTemplates:
    rows = session.scalars(select(MessageTemplate).where(MessageTemplate.practice_id == practice_id))
    return PracticeTemplates({row.kind: row for row in rows})


def save(session: Session, actor: Actor, practice: Practice, portal_url: str, kind: str, subject: str | None,
         body: str) -> list[Problem]:
    """Save the practice's template of `kind`, audited with it, unless `problems` finds any
    (returned, nothing written)."""
    found = problems(kind, subject, body, practice, portal_url)
    if found:
        return found
    with unit_of_work(session):
        row = session.scalar(
            select(MessageTemplate).where(MessageTemplate.practice_id == practice.id, MessageTemplate.kind == kind)
        )
        if row is None:
            row = MessageTemplate(practice_id=practice.id, kind=kind)
            session.add(row)
        row.subject = subject if kind == "email" else None
        row.body = body.replace("\r\n", "\n")
        row.updated_at = actor.now()
        row.updated_by_id = actor.staff_id
        audit.record(session, actor, AuditAction.SETTINGS_CHANGE, detail=f"{kind} template saved")
    return []


def restore_default(session: Session, actor: Actor, kind: str) -> None:
    """Back to the built-in wording, audited with it."""
    with unit_of_work(session):
        session.execute(
            delete(MessageTemplate).where(MessageTemplate.practice_id == actor.practice_id, MessageTemplate.kind == kind)
        )
        audit.record(session, actor, AuditAction.SETTINGS_CHANGE, detail=f"{kind} template: built-in wording restored")


def sample_details(practice: Practice, portal_url: str, now: datetime | None = None) -> WelcomeDetails:
    """What a preview shows: the practice's own name, URL and PIN lifetime, a sample PIN and name."""
    from datetime import timedelta

    now = now or datetime.now(UTC)
    return WelcomeDetails(
        practice_name=practice.name,
        practice_slug=practice.slug,
        portal_url=portal_url,
        expires_at=now + timedelta(days=practice.pin_lifetime_days),
        timezone=practice.timezone,
        patient_first_name="Avery",
        pin="K7QX-4M2P",
    )


def email_for(details: WelcomeDetails, templates: PracticeTemplates) -> ComposedEmail:
    """A PIN's email in the practice's wording (its template, or the default one); a verification
    question's in the built-in wording."""
    if not details.pin:
        return compose_email(details)
    subject, body = templates.subject_and_body("email")
    values = values_for("email", details)
    html = Markup('<!doctype html><html lang="en"><body>') + render_html(body, details) + Markup("</body></html>")
    return ComposedEmail(subject=render(subject or "", values), text=render(body, values), html=str(html))


def text_message_for(details: WelcomeDetails, templates: PracticeTemplates) -> str | None:
    """A PIN's text message from the practice's template when it fits one segment; otherwise (no
    template, or the practice's name or URL grew since it was saved) the built-in composition,
    which always fits when anything can."""
    saved = templates.get("text")
    if details.pin and saved is not None:
        text = render(saved.body, values_for("text", details))
        length = gsm7_length(text)
        if length is not None and length <= SMS_LIMIT:
            return text
    return compose_text_message(details)


def letter_html_for(details: WelcomeDetails, templates: PracticeTemplates) -> Markup | None:
    """A PIN's printed letter body in the practice's wording; None: the built-in question letter."""
    if not details.pin:
        return None
    _, body = templates.subject_and_body("letter")
    return render_html(body, details, big_pin=True)
