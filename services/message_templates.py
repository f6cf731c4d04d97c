"""A practice's own wording for its PIN welcome messages, and the checks that keep it inside
CONTRACT section 2.

A template is plain text with placeholders in braces (`{pin}`); `{{` and `}}` stand for a brace
itself. Placeholders are substituted one by one, never with `str.format`, so a template cannot
reach anything but the values below. A practice without a template of a kind gets the built-in
wording (services/welcome_messages.py). Templates word PIN messages; a verification question's
message keeps the built-in wording, whose steps and link differ (and a link leaves no room in a
text message).

Saving is refused (`problems`) when a template:
- lacks the PIN, the portal URL, the expiry or the practice's name;
- names the patient beyond `{patient_first_name}` (an email or a letter), or names the patient
  at all (a text message);
- would pass one 160-character GSM-7 text message with the longest values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from markupsafe import Markup, escape
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import MessageTemplate, Practice, utcnow
from models.message_template import BODY_MAX_LENGTH, SUBJECT_MAX_LENGTH
from services import audit
from services.actor import Actor, unit_of_work
from services.welcome_messages import (
    SMS_LIMIT,
    ComposedEmail,
    WelcomeDetails,
    compose_email,
    compose_text_message,
    gsm7_length,
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

# A letter prints on one Letter page (CONTRACT section 2; tests/browser/test_message_templates.py
# prints the worst cases these allow to PDF and counts one page).
LETTER_MAX_CHARACTERS = 1200
LETTER_MAX_LINES = 24

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+")

DEFAULT_EMAIL_SUBJECT = "Your {practice_name} patient portal registration"
DEFAULT_EMAIL_BODY = """Hello,

{practice_name} invites you to register for its patient portal for {patient_first_name}.

Your registration PIN: {pin}
Portal: {portal_url}
It expires {expires} and works once.

How to register:
1. Open {portal_url}
2. Enter your email address and choose a password.
3. Enter {patient_first_name}'s date of birth and the PIN {pin}.
4. Accept the Terms & Conditions and select Create My Account.

If you did not expect this message, call {practice_name}."""
DEFAULT_TEXT_BODY = "Patient portal PIN {pin}. Register at {portal_url} Expires {expires}. - {practice_name}"
DEFAULT_LETTER_BODY = """Create your Patient Portal account for {patient_first_name}

Your registration PIN
{pin}

Portal: {portal_url}
This PIN expires {expires} and works once.

How to register:
1. Open {portal_url}
2. Enter your email address and choose a password.
3. Enter {patient_first_name}'s date of birth and the PIN {pin}.
4. Accept the Terms & Conditions and select Create My Account.

Questions? Call {practice_name}."""
DEFAULTS = {
    "email": (DEFAULT_EMAIL_SUBJECT, DEFAULT_EMAIL_BODY),
    "text": (None, DEFAULT_TEXT_BODY),
    "letter": (None, DEFAULT_LETTER_BODY),
}


class TemplateSyntaxProblem(ValueError):
    pass


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", literal) and ("field", name) pieces; raises TemplateSyntaxProblem on a stray brace."""
    pieces: list[tuple[str, str]] = []
    position = 0
    for match in _TOKEN.finditer(template):
        if match.start() > position:
            pieces.append(("text", template[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            pieces.append(("text", token[0]))
        elif match.group(1) is None:
            raise TemplateSyntaxProblem(
                "A brace must enclose a placeholder such as {pin}; write {{ or }} for a brace itself."
            )
        else:
            pieces.append(("field", match.group(1).strip()))
        position = match.end()
    if position < len(template):
        pieces.append(("text", template[position:]))
    return pieces


def fields_of(template: str) -> list[str]:
    return [value for kind, value in _tokens(template) if kind == "field"]


def render(template: str, values: dict[str, str]) -> str:
    return "".join(values[value] if kind == "field" else value for kind, value in _tokens(template))


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
        if "\r" in subject or "\n" in subject:
            found.append(Problem("subject", "The subject must be one line."))
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
            fields[where] = fields_of(text)
        except TemplateSyntaxProblem as problem:
            found.append(Problem(where, str(problem)))
            fields[where] = []
        for name in dict.fromkeys(fields[where]):
            refusal = _placeholder_refusal(kind, name)
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


def _placeholder_refusal(kind: str, name: str) -> str | None:
    if name == "patient_first_name" and kind == "text":
        return "A text message may not name the patient: remove {patient_first_name}."
    if name in PLACEHOLDERS:
        return None
    if set(re.split(r"[^a-z]+", name.lower())) & _PATIENT_WORDS:
        if kind == "text":
            return f"A text message may not name the patient: remove {{{name}}}."
        return f"{{{name}}} would say more about the patient than the first name: only {{patient_first_name}} may be used."
    return f"{{{name}}} is not a placeholder. Use " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS) + "."


def _text_problems(body: str, practice: Practice, portal_url: str) -> list[str]:
    literal = "".join(value for kind, value in _tokens(body) if kind == "text")
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
    name and portal URL as a text message carries them."""
    values = {
        "pin": LONGEST_PIN,
        "expires": LONGEST_SHORT_EXPIRY,
        "portal_url": to_gsm7(portal_url),
        "practice_name": to_gsm7(practice.name),
    }
    return gsm7_length(render(body, values)) or 0


def values_for(kind: str, details: WelcomeDetails) -> dict[str, str]:
    if kind == "text":
        return {
            "pin": details.pin or "",
            "portal_url": to_gsm7(details.portal_url),
            "expires": details.expires_short,
            "practice_name": to_gsm7(details.practice_name),
        }
    return {
        "pin": details.pin or "",
        "portal_url": details.portal_url,
        "expires": details.expires_long,
        "practice_name": details.practice_name,
        "patient_first_name": details.patient_first_name,
    }


def render_html(template: str, details: WelcomeDetails, big_pin: bool = False) -> Markup:
    """The HTML of an email body or a letter: paragraphs at blank lines, numbered lines as a list,
    the portal URL as a link and the PIN in bold (a line holding only the PIN: large, in a letter).
    Every value and every word of the template is escaped."""
    values = values_for("email", details)

    def line_html(line: str) -> str:
        out = []
        for kind, value in _tokens(line):
            if kind == "text":
                out.append(str(escape(value)))
            elif value == "portal_url":
                out.append(f'<a href="{escape(values[value])}">{escape(values[value])}</a>')
            elif value == "pin":
                out.append(f'<strong class="pin">{escape(values[value])}</strong>')
            else:
                out.append(str(escape(values[value])))
        return "".join(out)

    blocks = []
    for block in re.split(r"\n\s*\n", template.replace("\r\n", "\n").strip()):
        lines = [line for line in block.split("\n") if line.strip()]
        plain: list[str] = []
        numbered: list[str] = []
        for line in lines + [None]:
            if big_pin and line is not None and _tokens(line.strip()) == [("field", "pin")]:
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
    audit.record(session, actor, "settings change", detail=f"{kind} template saved")
    session.commit()
    return []


def restore_default(session: Session, actor: Actor, kind: str) -> None:
    """Back to the built-in wording, audited with it."""
    with unit_of_work(session):
        session.execute(
            delete(MessageTemplate).where(MessageTemplate.practice_id == actor.practice_id, MessageTemplate.kind == kind)
        )
        audit.record(session, actor, "settings change", detail=f"{kind} template: built-in wording restored")


def sample_details(practice: Practice, portal_url: str, now: datetime | None = None) -> WelcomeDetails:
    """What a preview shows: the practice's own name, URL and PIN lifetime, a sample PIN and name."""
    from datetime import timedelta

    now = now or datetime.now(timezone.utc)
    return WelcomeDetails(
        practice_name=practice.name,
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
