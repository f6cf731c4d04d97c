"""Validating and normalising contact details: email with email-validator, US cells with
phonenumbers. Shared by the registration window and the patient import."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class ContactError(ValueError):
    pass


WHOLE_ADDRESS = "Enter the whole email address, with a name before the @ and a domain after it, like name@example.com."
# email-validator explains in its own words, with parentheses, for programmers; staff read these
# instead. The first entry whose words appear in its message (lower-cased) applies.
_EMAIL_PROBLEMS = (
    (("must have an @-sign",), "Enter the whole email address, with an @ between the name and the domain, like name@example.com."),
    (("something before the @-sign", "something after the @-sign", "should have a period",
      "not within a valid top-level domain"), WHOLE_ADDRESS),
    (("display name", "angle bracket"), "Enter the email address alone, without a name or < >, like name@example.com."),
    (("two periods", "period and a hyphen", "period", "hyphen"),
     "Check the dots and hyphens in the email address: two cannot stand together, and none can start or end the name or the domain."),
    (("internationalized", "not valid ascii", "unicode", "idna", "full-width", "commercial at"),
     "Enter the email address in plain letters, digits and . _ - + only: mail cannot be sent to accented or other special letters here."),
    (("too long",), "This email address is too long to be real. Check it and enter it again."),
    (("special-use", "reserved name"), "The domain after the @ cannot receive email. Enter the address the person really uses."),
    (("anything after the email address", "invalid character", "unsafe character", "quot", "bracket"),
     "Take out the characters an email address cannot have, such as spaces, commas, quotes or brackets."),
)


def email_problem_in_words(validator_message: str) -> str:
    """What staff read when email-validator refuses an address: a sentence, not its diagnostics."""
    said = validator_message.lower()
    for clues, sentence in _EMAIL_PROBLEMS:
        if any(clue in said for clue in clues):
            return sentence
    return "Enter a valid email address, like name@example.com."


def normalize_email_address(raw: str) -> str:
    """A deliverable-looking address, normalised; CR/LF and the like never get through."""
    value = raw.strip()
    if any(ch in value for ch in "\r\n"):
        raise ContactError("Enter an email address on one line.")
    try:
        # SMTPUTF8 addresses are refused: Flask-Mail and many servers cannot send to them.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ContactError(email_problem_in_words(str(error))) from None
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


def format_us_cell(ten_digits: str) -> str:
    """A US cell as people write it, (617) 555-0143; anything unparseable as it was given."""
    try:
        number = phonenumbers.parse(ten_digits, "US")
    except phonenumbers.NumberParseException:
        return ten_digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
