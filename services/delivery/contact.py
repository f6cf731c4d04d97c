"""Validating and normalising contact details: email with email-validator, US cells with
phonenumbers. Shared by the registration window and the patient import."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class ContactError(ValueError):
    pass


def normalize_email_address(raw: str) -> str:
    """A deliverable-looking address, normalised; CR/LF and the like never get through."""
    value = raw.strip()
    if any(ch in value for ch in "\r\n"):
        raise ContactError("Enter an email address on one line.")
    try:
        # SMTPUTF8 addresses are refused: Flask-Mail and many servers cannot send to them.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ContactError(f"Enter a valid email address ({error}).") from None
    return result.normalized


def normalize_us_cell(raw: str) -> str:
    """Ten digits of a valid US number, from any common way of writing it."""
    value = raw.strip()
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        raise ContactError("Enter a 10-digit US cell phone number, such as 617-555-0143.") from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.region_code_for_number(number) != "US":
        raise ContactError("Enter a valid 10-digit US cell phone number.")
    return str(number.national_number)
