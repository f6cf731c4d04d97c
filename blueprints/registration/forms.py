"""The Patient Registration window's form (README: The outside contract)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, RadioField, SelectField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from models import Carrier, Patient
from models.vocabulary import AccessLevel, Audience, CredentialKind, SendBy
from services.credentials.print_instead import KEY_PREFIXES
from services.delivery.carriers import carrier_option_label, ended_carrier_reason
from services.delivery.contact import ContactError, format_us_cell, normalize_email_address, normalize_us_cell
from services.delivery.masking import mask_email

NO_ROAD_TO_A_PHONE = (
    "Text Message cannot reach any phone: every carrier's text gateway has shut down and no SMS "
    "service is configured. Send by Email Address or print the PIN."
)

# The key this window was opened with (blueprints/registration/__init__.py: secrets.token_urlsafe(24)).
# It comes back from the browser, so it is checked: a key of a way forward (print-instead-N, …:
# services/credentials/print_instead.py) would make that button answer "Already issued".
_WINDOW_KEY = re.compile(r"[A-Za-z0-9_-]{32}")


def window_key_acceptable(key: str | None) -> bool:
    return bool(key and _WINDOW_KEY.fullmatch(key) and not key.startswith(tuple(KEY_PREFIXES.values())))


@dataclass(frozen=True)
class WindowContext:
    patient: Patient
    carriers: list[Carrier]
    today: date
    offers_send_to: bool
    text_fits_pin: bool  # a PIN text message fits 160 GSM-7 characters with this portal URL
    text_fits_question: bool  # so does a question link
    # Texts go through the SMS service (Twilio): to the number itself, no carrier needed.
    sms_service: bool = False


class RegistrationForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect checks the token of every POST, htmx ones via hx-headers

    method = RadioField(
        "Register Patient with",
        choices=[SelectChoice(kind, kind.label) for kind in CredentialKind],
        default=CredentialKind.PIN,
    )
    question = StringField("Question", validators=[Optional(), Length(max=200)])
    answer = StringField("Answer", validators=[Optional(), Length(max=200)])
    access = RadioField(
        "Accessibility",
        choices=[SelectChoice(AccessLevel.FULL, "Full Access"), SelectChoice(AccessLevel.LIMITED, "Limited: No Chart Access")],
        default=AccessLevel.FULL,
    )
    send_by = RadioField(
        "Send by",
        choices=[
            SelectChoice(SendBy.EMAIL, "Email Address"),
            SelectChoice(SendBy.TEXT, "Text Message"),
            SelectChoice(SendBy.NONE, "Do not send PIN"),
        ],
        default=SendBy.EMAIL,
    )
    email = EmailField("Email", validators=[Optional(), Length(max=254)])
    cell = TelField("Cell phone", validators=[Optional(), Length(max=32)])
    carrier = SelectField("Cell Carrier", validate_choice=False, default="")
    send_to = RadioField(
        "Send to", choices=[SelectChoice(audience, audience.label) for audience in Audience], default=Audience.GUARDIAN
    )
    idempotency_key = HiddenField()

    def __init__(self, context: WindowContext, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.context = context
        self.warnings: dict[str, str] = {}
        self.clean_email: str | None = None
        self.clean_cell: str | None = None
        self.chosen_carrier: Carrier | None = None
        if not context.offers_send_to:
            # Absent, not hidden: a patient under 12 has no Send to at all.
            del self.send_to
        # A shut-down gateway stays listed, marked and disabled (the hint says why).
        self.carrier.choices = [SelectChoice("", "Choose a carrier")] + [
            SelectChoice(
                str(c.id),
                carrier_option_label(c, context.today),
                {"disabled": True} if c.has_ended(context.today) else {},
            )
            for c in context.carriers
        ]

    # What the current choices enable; the server renders the toggles from these.
    @property
    def audience(self) -> Audience:
        if "send_to" in self and self.send_to.data == Audience.MINOR:
            return Audience.MINOR
        return Audience.GUARDIAN

    @property
    def email_enabled(self) -> bool:
        return self.send_by.data == SendBy.EMAIL

    @property
    def text_enabled(self) -> bool:
        return self.send_by.data == SendBy.TEXT

    @property
    def question_shown(self) -> bool:
        return self.method.data == CredentialKind.QUESTION

    def ended_carriers(self) -> list[Carrier]:
        return [c for c in self.context.carriers if c.has_ended(self.context.today)]

    def working_carriers(self) -> list[Carrier]:
        return [c for c in self.context.carriers if not c.has_ended(self.context.today)]

    @property
    def carrier_required(self) -> bool:
        """A carrier is needed only for its gateway: the SMS service reaches the number itself."""
        return self.text_enabled and not self.context.sms_service

    @property
    def no_road_to_a_phone(self) -> bool:
        """No SMS service and every carrier's gateway shut down: no text can reach a phone."""
        return not self.context.sms_service and not self.working_carriers()

    def send_by_hint(self) -> str | None:
        if self.no_road_to_a_phone:
            return NO_ROAD_TO_A_PHONE
        return None

    def carrier_hint(self) -> str | None:
        if self.context.sms_service:
            return "Optional: texts go straight to the number through the practice's SMS service, no carrier needed."
        ended = self.ended_carriers()
        if ended and not self.no_road_to_a_phone:
            names = ", ".join(c.name for c in ended)
            return f"Text gateways of {names} have shut down; for their customers send by Email Address or print the PIN."
        return None

    def _carrier(self, carrier_id: str | None) -> Carrier | None:
        for carrier in self.context.carriers:
            if str(carrier.id) == (carrier_id or ""):
                return carrier
        return None

    def apply_audience_defaults(self, audience_changed: bool = False) -> None:
        """Prefill the guardian's contact for the guardian. Choosing Minor clears it; a contact
        typed for the minor afterwards is kept (and warned about in collect_warnings)."""
        patient = self.context.patient
        if self.audience == Audience.GUARDIAN:
            if not self.email.data and patient.guardian_email:
                self.email.data = patient.guardian_email
            if not self.cell.data and patient.guardian_cell:
                self.cell.data = format_us_cell(patient.guardian_cell)
            carrier_on_file = self._carrier(str(patient.guardian_cell_carrier_id or ""))
            if not self.carrier.data and carrier_on_file and not carrier_on_file.has_ended(self.context.today):
                self.carrier.data = str(carrier_on_file.id)
        elif audience_changed:
            if self._same_email(self.email.data):
                self.email.data = ""
            if self._same_cell(self.cell.data):
                self.cell.data = ""
                self.carrier.data = ""

    def collect_warnings(self) -> None:
        """A minor's contact equal to the guardian's on file defeats the purpose: warn."""
        if self.audience != Audience.MINOR:
            return
        if self.email_enabled and self._same_email(self.email.data):
            self.warnings["email"] = "This is the guardian's email on file: the minor's PIN would reach the parent."
        if self.text_enabled and self._same_cell(self.cell.data):
            self.warnings["cell"] = "This is the guardian's cell on file: the minor's PIN would reach the parent."

    def _same_email(self, value: str | None) -> bool:
        on_file = self.context.patient.guardian_email
        return bool(value and on_file and value.strip().lower() == on_file.lower())

    def _same_cell(self, value: str | None) -> bool:
        on_file = self.context.patient.guardian_cell
        if not value or not on_file:
            return False
        try:
            return normalize_us_cell(value) == on_file
        except ContactError:
            return False

    def what_happens(self) -> str:
        """The line above the actions: what any of them does with the current choices. The
        buttons' names are the contract's; this says where the PIN goes, Print PIN included."""
        noun = "verification question" if self.question_shown else "PIN"
        if self.email_enabled:
            try:
                to = mask_email(normalize_email_address(self.email.data or ""))
            except ContactError:
                return f"Emails a {noun} to the address entered in Email. Print PIN also prints it."
            return f"Emails a {noun} to {to}. Print PIN also prints it."
        if self.text_enabled:
            fits = self.context.text_fits_question if self.question_shown else self.context.text_fits_pin
            if self.no_road_to_a_phone or not fits:
                return f"No text message can carry this {noun}: choose Email Address or Do not send PIN."
            try:
                to = format_us_cell(normalize_us_cell(self.cell.data or ""))
            except ContactError:
                return f"Texts a {noun} to the number entered in Cell phone. Print PIN also prints it."
            return f"Texts a {noun} to {to}. Print PIN also prints it."
        return f"Nothing is sent: the {noun} is shown here once, and Print PIN prints it."

    def validate_for_issue(self) -> bool:
        """Field rules that depend on each other; messages land beside their fields."""
        ok = self.validate()
        errors: dict[str, str] = {}
        if not window_key_acceptable(self.idempotency_key.data):
            errors["idempotency_key"] = "This window has expired. Close it and open Register Patient again."
        if self.question_shown:
            if not (self.question.data or "").strip():
                errors["question"] = "Enter the question the parent will answer."
            if len("".join((self.answer.data or "").split())) < 2:
                errors["answer"] = "Enter the answer (at least 2 characters)."
        if self.email_enabled:
            if not (self.email.data or "").strip():
                errors["email"] = "Enter the email address the PIN goes to."
            else:
                try:
                    self.clean_email = normalize_email_address(self.email.data)
                except ContactError as error:
                    errors["email"] = str(error)
        if self.text_enabled:
            fits = self.context.text_fits_question if self.question_shown else self.context.text_fits_pin
            if self.no_road_to_a_phone:
                errors["send_by"] = NO_ROAD_TO_A_PHONE
            elif not fits:
                errors["send_by"] = (
                    "This practice's portal address is too long for a text message. "
                    "Send by Email Address or print the PIN instead."
                )
            if not (self.cell.data or "").strip():
                errors["cell"] = "Enter the cell phone number."
            else:
                try:
                    self.clean_cell = normalize_us_cell(self.cell.data)
                except ContactError as error:
                    errors["cell"] = str(error)
            carrier = self._carrier(self.carrier.data)
            if self.context.sms_service:
                pass  # the SMS service reaches the number itself: Cell Carrier is optional and unused
            elif not self.carrier.data:
                errors["carrier"] = "Choose the cell carrier: a text message is sent through its gateway."
            elif carrier is None:
                errors["carrier"] = "Choose a cell carrier from the list."
            elif carrier.has_ended(self.context.today):
                errors["carrier"] = ended_carrier_reason(carrier, self.working_carriers())
            else:
                self.chosen_carrier = carrier
        for name, message in errors.items():
            field = getattr(self, name)
            field.errors = [*field.errors, message]
        self.collect_warnings()
        return ok and not errors
