"""Issue 14: what staff read when an email address or cell number is refused or shown: sentences a
person wrote, never email-validator's diagnostics in parentheses; cells as people write them."""

from __future__ import annotations

import pytest

from services.delivery.contact import ContactError, format_us_cell, normalize_email_address


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("maria@", "Enter the whole email address, with a name before the @ and a domain after it, like name@example.com."),
        ("@example.com", "Enter the whole email address, with a name before the @ and a domain after it, like name@example.com."),
        ("maria@example", "Enter the whole email address, with a name before the @ and a domain after it, like name@example.com."),
        ("maria.example.com", "Enter the whole email address, with an @ between the name and the domain, like name@example.com."),
        ("maria..nunez@example.com", "Check the dots and hyphens in the email address: two cannot stand together, and none can start or end the name or the domain."),
        ("maría@example.com", "Enter the email address in plain letters, digits and . _ - + only: mail cannot be sent to accented or other special letters here."),
        ("maria nunez@example.com", "Take out the characters an email address cannot have, such as spaces, commas, quotes or brackets."),
        ("Maria <maria@example.com>", "Enter the email address alone, without a name or < >, like name@example.com."),
    ],
)
def test_a_refused_email_address_is_explained_in_a_sentence(typed, sentence):
    with pytest.raises(ContactError) as refused:
        normalize_email_address(typed)
    assert str(refused.value) == sentence


@pytest.mark.parametrize("typed", ["maria@", "a@b", "x@-example.com", "x@exa_mple.com", "x@" + "a" * 64 + ".com", "x@localhost"])
def test_no_refusal_quotes_the_validator(typed):
    with pytest.raises(ContactError) as refused:
        normalize_email_address(typed)
    said = str(refused.value)
    assert "(" not in said and "@-sign" not in said and said.endswith(".")


def test_a_cell_is_shown_as_people_write_it():
    assert format_us_cell("6175550143") == "(617) 555-0143"
