"""Parent-side forms: registration (PIN, question link or desk token), sign-in, add a child,
forgotten password and its reset."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from models.vocabulary import RedemptionMode
from services.delivery.contact import ContactError, normalize_email_address
from services.identity.portal_accounts import password_problem

DATE_FORMATS = ["%Y-%m-%d", "%m/%d/%Y"]  # what <input type=date> sends, and what people type


class _NoCsrfMeta:
    csrf = False  # CSRFProtect checks every POST


class PortalRegisterForm(FlaskForm):
    Meta = _NoCsrfMeta

    email = EmailField("Email", validators=[DataRequired(message="Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(message="Choose a password.")])
    date_of_birth = DateField(
        "Patient date of birth",
        format=DATE_FORMATS,
        validators=[DataRequired(message="Enter the patient's date of birth as MM/DD/YYYY.")],
    )
    pin = StringField("PIN", validators=[DataRequired(message="Enter the PIN from your welcome message."), Length(max=40)])
    answer = StringField("Answer", validators=[DataRequired(message="Enter the answer."), Length(max=200)])
    accept_terms = BooleanField(
        "I accept the Terms & Conditions",
        validators=[DataRequired(message="Accept the Terms & Conditions to create your account.")],
    )

    def __init__(self, mode: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clean_email: str | None = None
        if mode != RedemptionMode.PIN:
            del self.pin
        if mode != RedemptionMode.QUESTION:
            del self.answer
        if mode == RedemptionMode.DESK:
            # The front desk's token stands in for the PIN and the birth date.
            del self.date_of_birth

    def validate_email(self, field):
        try:
            self.clean_email = normalize_email_address(field.data or "")
        except ContactError as error:
            raise ValidationError(str(error)) from None

    def validate_password(self, field):
        problem = password_problem(field.data or "", self.email.data)
        if problem:
            raise ValidationError(problem)


class PortalSignInForm(FlaskForm):
    Meta = _NoCsrfMeta

    email = EmailField("Email", validators=[DataRequired(message="Enter your email address.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])


class AddChildForm(FlaskForm):
    Meta = _NoCsrfMeta

    date_of_birth = DateField(
        "Patient date of birth",
        format=DATE_FORMATS,
        validators=[DataRequired(message="Enter the child's date of birth as MM/DD/YYYY.")],
    )
    pin = StringField("PIN", validators=[DataRequired(message="Enter the PIN from the child's welcome message."), Length(max=40)])


class ForgotPasswordForm(FlaskForm):
    Meta = _NoCsrfMeta

    email = EmailField("Email", validators=[DataRequired(message="Enter your email address."), Length(max=254)])

    def validate_email(self, field):
        try:
            self.clean_email = normalize_email_address(field.data or "")
        except ContactError as error:
            raise ValidationError(str(error)) from None


class ResetPasswordForm(FlaskForm):
    Meta = _NoCsrfMeta

    password = PasswordField("New password", validators=[DataRequired(message="Choose a new password.")])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(message="Type the new password again."),
                    EqualTo("password", message="The two passwords are not the same.")],
    )

    def __init__(self, email: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.account_email = email

    def validate_password(self, field):
        problem = password_problem(field.data or "", self.account_email)
        if problem:
            raise ValidationError(problem)
