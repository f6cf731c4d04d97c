"""Message Templates: a practice admin words the PIN's email, text message and letter,
previews it, and cannot save one that breaks the outside contract (README). Messages then go out in the
practice's words, through the real SMTP server on loopback."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from blueprints.extensions import db
from models import MessageTemplate, Practice
from services.delivery import message_templates
from services.delivery.welcome_messages import WelcomeDetails, gsm7_length
from tests.support.app_settings import PORTAL_URL
from tests.support.builders import make_patient, make_staff
from tests.support.html_readers import csrf_token_from, pin_from
from tests.support.mail import text_of
from tests.support.staff_screens import HX, issue, sign_in, signed_in_admin

# {portal_url} names the practice (its slug); an email's carries the PIN in the fragment too.
PRACTICE_LINK = PORTAL_URL + "?practice=cedar-pediatrics"
GOOD_EMAIL_SUBJECT = "{practice_name}: your portal PIN for {patient_first_name}"
GOOD_EMAIL_BODY = """Dear parent of {patient_first_name},

Your PIN is {pin}. Register at {portal_url} before {expires}.

1. Open the portal.
2. Enter the PIN.

<b>Thanks</b> & welcome, {practice_name}"""
GOOD_TEXT = "{practice_name}: PIN {pin} at {portal_url} until {expires}"
GOOD_LETTER = """Welcome to the {practice_name} portal, {patient_first_name}'s family.

{pin}

Go to {portal_url} before {expires}."""


@pytest.fixture
def admin_client(app, practice):
    return signed_in_admin(app, practice)


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


def post_template(client, kind, body, subject=None, action="save", htmx=True):
    data = {"body": body, "action": action}
    if subject is not None:
        data["subject"] = subject
    headers = {"X-CSRFToken": client.csrf_token, **(HX if htmx else {})}
    return client.post(f"/practice/templates/{kind}", data=data, headers=headers)


def saved_templates(app, practice_id) -> dict[str, tuple[str | None, str]]:
    with app.app_context():
        rows = db.session.scalars(select(MessageTemplate).where(MessageTemplate.practice_id == practice_id))
        return {row.kind: (row.subject, row.body) for row in rows}


def field_error(body: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error">(.*?)</p>', body, re.S)
    return html.unescape(match.group(1)) if match else ""


def verizon_id(app) -> str:
    with app.app_context():
        from services.delivery.carriers import find_carrier_by_name

        return str(find_carrier_by_name(db.session, "Verizon").id)


def test_staff_who_are_not_admins_get_403_everywhere(app, staff_client):
    for path in ("/practice/templates", "/practice/templates/email", "/practice/templates/text"):
        assert staff_client.get(path).status_code == 403
    refused = post_template(staff_client, "email", GOOD_EMAIL_BODY, GOOD_EMAIL_SUBJECT)
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(MessageTemplate.id)) is None


def test_an_unknown_kind_is_404(admin_client):
    assert admin_client.get("/practice/templates/fax").status_code == 404


def test_the_editor_starts_from_the_built_in_wording(admin_client):
    listing = admin_client.get("/practice/templates").get_data(as_text=True)
    assert listing.count("Built-in") == 3 and ">Edit email<" in listing and ">Edit text message<" in listing
    page = admin_client.get("/practice/templates/email").get_data(as_text=True)
    assert 'for="subject">Subject<' in page and 'for="body">Message<' in page
    assert "Your {practice_name} patient portal registration" in page
    assert ">Preview<" in page and ">Save<" in page and "Restore default" not in page
    settings = admin_client.get("/practice/settings").get_data(as_text=True)
    assert 'href="/practice/templates"' in settings


REFUSALS = [
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "your PIN"), GOOD_EMAIL_SUBJECT, "body", "must contain {pin}"),
    ("email", GOOD_EMAIL_BODY.replace("{portal_url}", "our portal"), GOOD_EMAIL_SUBJECT, "body", "must contain {portal_url}"),
    ("email", GOOD_EMAIL_BODY.replace("{expires}", "soon"), GOOD_EMAIL_SUBJECT, "body", "must contain {expires}"),
    ("email", GOOD_EMAIL_BODY.replace("welcome, {practice_name}", "welcome"), GOOD_EMAIL_SUBJECT, "body", "must contain {practice_name}"),
    ("email", GOOD_EMAIL_BODY + " {patient_last_name}", GOOD_EMAIL_SUBJECT, "body", "only {patient_first_name} may be used"),
    ("email", GOOD_EMAIL_BODY + " born {patient_date_of_birth}", GOOD_EMAIL_SUBJECT, "body", "more about the patient"),
    ("email", GOOD_EMAIL_BODY, "{patient_full_name} portal", "subject", "more about the patient"),
    ("email", GOOD_EMAIL_BODY, "Your PIN {pin}", "subject", "may not carry the PIN"),
    ("email", GOOD_EMAIL_BODY, "", "subject", "Write a subject"),
    ("email", GOOD_EMAIL_BODY + " {signature}", GOOD_EMAIL_SUBJECT, "body", "{signature} is not a placeholder"),
    ("email", GOOD_EMAIL_BODY + " {pin", GOOD_EMAIL_SUBJECT, "body", "write {{ or }}"),
    ("letter", GOOD_LETTER.replace("{pin}", "PIN"), None, "body", "must contain {pin}"),
    ("letter", GOOD_LETTER + " {chart_number}", None, "body", "more about the patient"),
    ("text", GOOD_TEXT + " for {patient_first_name}", None, "body", "may not name the patient"),
    ("text", GOOD_TEXT + " {guardian_email}", None, "body", "may not name the patient"),
    ("text", GOOD_TEXT.replace("{expires}", "soon"), None, "body", "must contain {expires}"),
    ("text", GOOD_TEXT + " ☀", None, "body", "cannot carry these characters: ☀"),
    ("text", GOOD_TEXT + " " + "x" * 100, None, "body", "one text message holds 160"),
    ("text", "   ", None, "body", "empty"),
    # A placeholder is its name alone: a format spec (`{pin:.0}` prints nothing), a conversion,
    # an attribute or an index would let the template print something other than the value.
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{pin:.0}"), GOOD_EMAIL_SUBJECT, "body", "{pin:.0} is not a placeholder: write {pin} alone"),
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{pin!r}"), GOOD_EMAIL_SUBJECT, "body", "{pin!r} is not a placeholder: write {pin} alone"),
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{pin.x}"), GOOD_EMAIL_SUBJECT, "body", "{pin.x} is not a placeholder: write {pin} alone"),
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{pin[0]}"), GOOD_EMAIL_SUBJECT, "body", "{pin[0]} is not a placeholder: write {pin} alone"),
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{pin:}"), GOOD_EMAIL_SUBJECT, "body", "{pin:} is not a placeholder: write {pin} alone"),
    ("email", GOOD_EMAIL_BODY, "{practice_name:>40}: your portal PIN", "subject", "{practice_name:>40} is not a placeholder"),
    ("text", GOOD_TEXT.replace("{pin}", "{ pin!s}"), None, "body", "{pin!s} is not a placeholder: write {pin} alone"),
    ("text", GOOD_TEXT.replace("{expires}", "{expires:%b}"), None, "body", "{expires:%b} is not a placeholder: write {expires} alone"),
    ("letter", GOOD_LETTER.replace("{pin}", "{pin[0]}"), None, "body", "{pin[0]} is not a placeholder: write {pin} alone"),
    ("letter", GOOD_LETTER.replace("{portal_url}", "{portal_url.upper}"), None, "body", "{portal_url.upper} is not a placeholder"),
    # An email's or a letter's HTML is laid out line by line, where a split placeholder would
    # read as two stray braces.
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{\npin\n}"), GOOD_EMAIL_SUBJECT, "body", "Write each placeholder on one line"),
    ("letter", GOOD_LETTER.replace("{expires}", "{expires\n}"), None, "body", "Write each placeholder on one line"),
    # `{{pin}}` is the words "{pin}", not the PIN.
    ("email", GOOD_EMAIL_BODY.replace("{pin}", "{{pin}}"), GOOD_EMAIL_SUBJECT, "body", "must contain {pin}"),
    ("text", GOOD_TEXT.replace("{pin}", "{{pin}}"), None, "body", "must contain {pin}"),
    # A single brace is still refused, opening or closing, wherever it stands.
    ("email", GOOD_EMAIL_BODY + " }", GOOD_EMAIL_SUBJECT, "body", "write {{ or }}"),
    ("email", GOOD_EMAIL_BODY, "Your {practice_name} portal {", "subject", "write {{ or }}"),
    ("text", GOOD_TEXT.replace("{pin}", "{pin}}"), None, "body", "write {{ or }}"),
    ("letter", "}" + GOOD_LETTER, None, "body", "write {{ or }}"),
]


@pytest.mark.parametrize("kind, body, subject, field, reason", REFUSALS)
def test_a_template_that_breaks_the_contract_is_refused_beside_its_field(app, admin_client, practice, kind, body, subject, field, reason):
    response = post_template(admin_client, kind, body, subject)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert reason in field_error(page, field)
    assert 'aria-invalid="true"' in page
    assert saved_templates(app, practice.id) == {}


@pytest.mark.parametrize("kind", ["email", "text", "letter"])
def test_the_built_in_wording_passes_the_checks_and_saves_unchanged(app, admin_client, practice, kind):
    subject, body = message_templates.DEFAULTS[kind]
    with app.app_context():
        assert message_templates.problems(kind, subject, body, db.session.get(Practice, practice.id), PORTAL_URL) == []
    saved = post_template(admin_client, kind, body, subject)
    assert saved.status_code == 200, field_error(saved.get_data(as_text=True), "body")
    assert saved_templates(app, practice.id) == {kind: (subject, body)}


def test_doubled_braces_are_sent_as_single_braces(app, admin_client, child, practice, mailbox):
    body = GOOD_EMAIL_BODY.replace("Your PIN is {pin}.", "Your PIN is {pin}; type it where the form says {{PIN}}.")
    subject = "{{Portal}} {practice_name}"
    saved = post_template(admin_client, "email", body, subject)
    assert saved.status_code == 200, field_error(saved.get_data(as_text=True), "body")
    assert saved_templates(app, practice.id) == {"email": (subject, body)}
    pin = pin_from(issue(admin_client, child.id).get_data(as_text=True))
    [message] = mailbox.messages
    assert message["Subject"] == "{Portal} Cedar Pediatrics"
    assert f"Your PIN is {pin}; type it where the form says {{PIN}}." in text_of(message)
    html_part = message.get_body(preferencelist=("html",)).get_content()
    assert f'Your PIN is <strong class="pin">{pin}</strong>; type it where the form says {{PIN}}.' in html_part


# Templates a practice could have saved before placeholders were read by string.Formatter:
# spaces inside the braces, doubled braces, a lone PIN line, numbered steps, characters that
# need escaping. The expected words are those the earlier reader produced, kept verbatim.
EARLIER_EMAIL = """Hello { patient_first_name }'s family,

Your registration PIN:
{ pin }

Sign up at {portal_url} before {expires}.
1) Open {portal_url}
2) Type the PIN {pin} where it says {{PIN}}.

Questions? Call {practice_name}. {{Braces}} stay {{ as }} written: }}{{"""
EARLIER_TEXT = "{practice_name}: PIN { pin } at {portal_url} by {expires}. Reply {{HELP}} for help"
EARLIER_DETAILS = WelcomeDetails(
    practice_name="Cedar Pediatrics & Family",
    practice_slug="cedar-pediatrics-family",
    portal_url="https://portal.example.test/register?p=1&x=<2>",
    expires_at=datetime(2026, 3, 9, 17, 30, tzinfo=UTC),
    timezone="America/New_York",
    patient_first_name="Zoë",
    pin="K7QX-4M2P",
)
# {portal_url} now names the practice, keeping the portal URL's own query; an email's carries
# the PIN in its fragment, a letter's and a text message's do not (services/delivery/portal_links.py).
EARLIER_LINK = "https://portal.example.test/register?p=1&x=<2>&practice=cedar-pediatrics-family"
EARLIER_EMAIL_LINK = EARLIER_LINK + "#pin=K7QX-4M2P"


def earlier_html_end(link: str) -> str:
    escaped = link.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    html_link = f'<a href="{escaped}">{escaped}</a>'
    return (
        f"<p>Sign up at {html_link} before Monday, March 9, 2026 at 1:30 PM EDT.</p>\n"
        f"<ol><li>Open {html_link}</li>"
        '<li>Type the PIN <strong class="pin">K7QX-4M2P</strong> where it says {PIN}.</li></ol>\n'
        "<p>Questions? Call Cedar Pediatrics &amp; Family. {Braces} stay { as } written: }{</p>"
    )


def test_a_template_valid_before_renders_as_before():
    assert message_templates.render(EARLIER_EMAIL, message_templates.values_for("email", EARLIER_DETAILS)) == (
        "Hello Zoë's family,\n\n"
        "Your registration PIN:\nK7QX-4M2P\n\n"
        f"Sign up at {EARLIER_EMAIL_LINK} before Monday, March 9, 2026 at 1:30 PM EDT.\n"
        f"1) Open {EARLIER_EMAIL_LINK}\n"
        "2) Type the PIN K7QX-4M2P where it says {PIN}.\n\n"
        "Questions? Call Cedar Pediatrics & Family. {Braces} stay { as } written: }{"
    )
    assert message_templates.render_html(EARLIER_EMAIL, EARLIER_DETAILS) == (
        "<p>Hello Zoë&#39;s family,</p>\n"
        '<p>Your registration PIN:<br><strong class="pin">K7QX-4M2P</strong></p>\n' + earlier_html_end(EARLIER_EMAIL_LINK)
    )
    assert message_templates.render_html(EARLIER_EMAIL, EARLIER_DETAILS, big_pin=True) == (
        "<p>Hello Zoë&#39;s family,</p>\n"
        "<p>Your registration PIN:</p>\n"
        '<p class="letter-pin">K7QX-4M2P</p>\n' + earlier_html_end(EARLIER_LINK)
    )
    assert message_templates.render(EARLIER_TEXT, message_templates.values_for("text", EARLIER_DETAILS)) == (
        f"Cedar Pediatrics & Family: PIN K7QX-4M2P at {EARLIER_LINK} by Mar 9. "
        "Reply {HELP} for help"
    )


@pytest.mark.parametrize("kind, body, subject", [
    ("email", EARLIER_EMAIL, "Your {practice_name} portal {{PIN}}"),
    ("letter", EARLIER_EMAIL, None),
    ("text", EARLIER_TEXT, None),
])
def test_a_template_valid_before_still_saves(app, admin_client, practice, kind, body, subject):
    saved = post_template(admin_client, kind, body, subject)
    assert saved.status_code == 200, field_error(saved.get_data(as_text=True), "body")
    assert saved_templates(app, practice.id) == {kind: (subject, body)}


def test_the_text_length_is_counted_with_the_longest_values(app, admin_client, practice):
    """`{pin}` and `{expires}` are counted at their longest (9 and 6 characters) with this
    practice's own name and URL: 160 fits, 161 does not."""
    fixed = len(GOOD_TEXT.format(practice_name="Cedar Pediatrics", pin="WWWW-WWWW", portal_url=PRACTICE_LINK, expires="Sep 30"))
    fits = GOOD_TEXT + " " + "x" * (160 - fixed - 1)
    assert post_template(admin_client, "text", fits + "x").status_code == 422
    saved = post_template(admin_client, "text", fits)
    assert saved.status_code == 200, field_error(saved.get_data(as_text=True), "body")
    assert "160 with the longest PIN and expiry" in saved.get_data(as_text=True)


def test_preview_renders_with_the_practices_values_and_saves_nothing(app, admin_client, practice):
    response = post_template(admin_client, "email", GOOD_EMAIL_BODY, GOOD_EMAIL_SUBJECT, action="preview")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Subject:</strong> Cedar Pediatrics: your portal PIN for Avery" in page
    assert "Dear parent of Avery" in page and f'<a href="{PRACTICE_LINK}#pin=K7QX-4M2P">' in page
    assert '<strong class="pin">K7QX-4M2P</strong>' in page
    assert "&lt;b&gt;Thanks&lt;/b&gt; &amp; welcome" in page  # the template's words are escaped
    assert "<ol><li>Open the portal.</li><li>Enter the PIN.</li></ol>" in page
    assert saved_templates(app, practice.id) == {}


def test_a_saved_email_template_words_the_next_email(app, admin_client, child, practice, mailbox):
    saved = post_template(admin_client, "email", GOOD_EMAIL_BODY, GOOD_EMAIL_SUBJECT)
    assert saved.status_code == 200 and "Saved" in saved.get_data(as_text=True)
    assert saved_templates(app, practice.id) == {"email": (GOOD_EMAIL_SUBJECT, GOOD_EMAIL_BODY)}

    response = issue(admin_client, child.id)
    pin = pin_from(response.get_data(as_text=True))
    [message] = mailbox.messages
    assert message["Subject"] == "Cedar Pediatrics: your portal PIN for Emma"
    text = text_of(message)
    assert text.startswith("Dear parent of Emma,") and f"Your PIN is {pin}. Register at {PRACTICE_LINK}#pin={pin} before " in text
    assert "<b>Thanks</b> & welcome, Cedar Pediatrics" in text  # plain text stays plain
    html_part = message.get_body(preferencelist=("html",)).get_content()
    assert f'<strong class="pin">{pin}</strong>' in html_part and f'<a href="{PRACTICE_LINK}#pin={pin}">' in html_part
    assert "&lt;b&gt;Thanks&lt;/b&gt;" in html_part and "<b>" not in html_part and "<img" not in html_part
    assert "Carter" not in text and "Carter" not in html_part


def test_a_saved_text_template_words_the_next_text_message(app, admin_client, practice, mailbox):
    teen = make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14), guardian_cell="6175550143")
    assert post_template(admin_client, "text", GOOD_TEXT).status_code == 200
    response = issue(admin_client, teen.id, send_by="text", cell="(617) 555-0199", carrier=verizon_id(app))
    pin = pin_from(response.get_data(as_text=True))
    [message] = mailbox.messages
    sms = text_of(message).strip()
    assert re.fullmatch(rf"Cedar Pediatrics: PIN {pin} at {re.escape(PRACTICE_LINK)} until [A-Z][a-z]{{2}} \d{{1,2}}", sms), sms
    assert gsm7_length(sms) <= 160 and message["Subject"] in (None, "")


def test_a_text_template_that_no_longer_fits_falls_back_to_the_built_in_wording(app, admin_client, practice, mailbox):
    """Saved while it fit; then the practice's portal URL grew. Nothing is lost: the built-in
    composition, which drops extras first, sends it in one segment."""
    teen = make_patient(app, practice, "Sofía", "Núñez", date(2012, 3, 14))
    padded = GOOD_TEXT + " " + "x" * 30
    assert post_template(admin_client, "text", padded).status_code == 200
    with app.app_context():
        db.session.get(Practice, practice.id).portal_url = "https://portal.example.test/" + "p" * 60
        db.session.commit()
    response = issue(admin_client, teen.id, send_by="text", cell="(617) 555-0199", carrier=verizon_id(app))
    assert response.status_code == 200
    sms = text_of(mailbox.messages[0]).strip()
    assert "x" * 30 not in sms and pin_from(response.get_data(as_text=True)) in sms and gsm7_length(sms) <= 160


def test_a_saved_letter_template_words_the_printed_letter(app, admin_client, child, practice, mailbox):
    assert post_template(admin_client, "letter", GOOD_LETTER).status_code == 200
    body = issue(admin_client, child.id, action="print", send_by="none").get_data(as_text=True)
    pin = pin_from(body)
    letter = body[body.index('class="print-letter"'):]
    assert "Welcome to the Cedar Pediatrics portal, Emma&#39;s family." in letter
    assert f'<p class="letter-pin">{pin}</p>' in letter and "Carter" not in letter


def test_a_verification_question_keeps_the_built_in_wording(app, admin_client, child, mailbox):
    assert post_template(admin_client, "email", GOOD_EMAIL_BODY, GOOD_EMAIL_SUBJECT).status_code == 200
    issue(admin_client, child.id, method="question", question="First pet?", answer="Rex")
    [message] = mailbox.messages
    assert message["Subject"] == "Your Cedar Pediatrics patient portal registration"
    assert f"{PRACTICE_LINK}&vq=" in text_of(message)


def test_restore_default_goes_back_to_the_built_in_wording(app, admin_client, child, practice, mailbox):
    assert post_template(admin_client, "email", GOOD_EMAIL_BODY, GOOD_EMAIL_SUBJECT).status_code == 200
    page = admin_client.get("/practice/templates/email").get_data(as_text=True)
    assert "Dear parent of {patient_first_name}" in page and ">Restore default<" in page
    restored = post_template(admin_client, "email", "", "", action="default")
    assert restored.status_code == 200 and "built-in wording is used again" in restored.get_data(as_text=True)
    assert saved_templates(app, practice.id) == {}
    issue(admin_client, child.id)
    assert mailbox.messages[0]["Subject"] == "Your Cedar Pediatrics patient portal registration"


def test_one_practices_template_never_words_another_practices_mail(app, admin_client, practice, other_practice, mailbox):
    assert post_template(admin_client, "email", GOOD_EMAIL_BODY, GOOD_EMAIL_SUBJECT).status_code == 200
    make_staff(app, other_practice, "riley")
    other = app.test_client()
    sign_in(other, "riley")
    other.csrf_token = csrf_token_from(other.get("/patients").get_data(as_text=True))
    birch_child = make_patient(app, other_practice, "Liam", "Birch")
    issue(other, birch_child.id, email="liam.parent@example.com")
    assert mailbox.messages[0]["Subject"] == "Your Birch Family Medicine patient portal registration"


def test_without_javascript_the_editor_is_a_whole_page(admin_client):
    response = post_template(admin_client, "letter", GOOD_LETTER, action="preview", htmx=False)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.startswith("<!doctype html>")
    assert "<h1>Printed letter template</h1>" in page and '<p class="letter-pin">K7QX-4M2P</p>' in page


def test_the_database_refuses_a_subject_on_a_text_template_and_a_second_email_template(app, practice):
    with app.app_context():
        db.session.add(MessageTemplate(practice_id=practice.id, kind="text", subject="Hi", body="x"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        db.session.add(MessageTemplate(practice_id=practice.id, kind="email", subject="a", body="x"))
        db.session.commit()
        db.session.add(MessageTemplate(practice_id=practice.id, kind="email", subject="b", body="y"))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_saving_needs_a_csrf_token(app, admin_client, practice):
    response = admin_client.post("/practice/templates/text", data={"body": GOOD_TEXT, "action": "save"})
    assert response.status_code == 400
    assert saved_templates(app, practice.id) == {}
