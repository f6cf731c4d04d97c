"""PIN format and entry, name rules, and the words of each welcome message (no database)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest

from models.names import normalize_name
from services.credentials.pins import PIN_ALPHABET, format_pin, generate_pin, normalize_answer, normalize_pin_entry
from services.delivery.welcome_messages import WelcomeDetails, compose_email, compose_text_message, gsm7_length
from services.patients.names import is_placeholder_first_name


def test_pins_are_eight_crockford_characters_from_the_whole_alphabet():
    pins = [generate_pin() for _ in range(2000)]
    assert all(re.fullmatch(f"[{PIN_ALPHABET}]{{8}}", pin) for pin in pins)
    assert not set("ILOU") & set("".join(pins))
    counts = Counter("".join(pins))
    assert set(counts) == set(PIN_ALPHABET)  # every symbol is reachable
    assert len(set(pins)) == len(pins)
    assert format_pin("ABCD1234") == "ABCD-1234"


@pytest.mark.parametrize("typed", ["abcd-1234", " ABCD 1234 ", "abcd1234", "ABCD--1234"])
def test_pin_entry_ignores_case_spaces_and_hyphens(typed):
    assert normalize_pin_entry(typed) == "ABCD1234"


def test_pin_entry_reads_o_as_zero_and_i_l_as_one():
    assert normalize_pin_entry("O0Il-oiLx") == "00110 11X".replace(" ", "")


def test_answers_compare_without_case_or_spaces():
    assert normalize_answer("  Mr  Whiskers ") == normalize_answer("mrwhiskers")


@pytest.mark.parametrize(
    "name",
    ["Baby Boy", "BABY GIRL", " baby ", "Boy", "Girl", "Infant", "Newborn", "Twin A", "twin b", "Unknown",
     "Baby A", "BabyBoy", "Baby-Girl", "TwinA", "Baby Girl 2", "Infant Boy", "Twin"],
)
def test_placeholder_first_names(name):
    assert is_placeholder_first_name(name)


@pytest.mark.parametrize("name", ["Babette", "Boyd", "Gail", "Twinkle", "Ava", "Bo", "Boyce", "Infanta", "Girlie"])
def test_real_first_names_are_not_placeholders(name):
    assert not is_placeholder_first_name(name)


def test_name_normalisation_drops_accents_and_case():
    assert normalize_name("  Núñez-García ") == "nunez-garcia"
    assert normalize_name("ZOË") == "zoe"


def details(**overrides) -> WelcomeDetails:
    values = dict(
        practice_name="Cedar Pediatrics",
        practice_slug="cedar-pediatrics",
        portal_url="https://portal.cedar.example/portal/register",
        expires_at=datetime(2026, 12, 3, 21, 0, tzinfo=UTC),
        timezone="America/New_York",
        patient_first_name="Sofía",
        pin="ABCD-1234",
    )
    values.update(overrides)
    return WelcomeDetails(**values)


def test_text_message_fits_one_segment_and_names_no_patient():
    sms = compose_text_message(details())
    assert sms is not None and gsm7_length(sms) <= 160
    assert "ABCD-1234" in sms and "https://portal.cedar.example/portal/register" in sms
    assert "Cedar Pediatrics" in sms and "Dec 3" in sms
    assert "Sof" not in sms


def test_text_message_drops_extras_before_it_drops_the_pin_or_url():
    long_url = "https://portal.example.test/" + "x" * 75
    sms = compose_text_message(details(portal_url=long_url, practice_name="A Very Long Practice Name For Children"))
    assert sms is not None and gsm7_length(sms) <= 160
    assert "ABCD-1234" in sms and long_url + "?practice=cedar-pediatrics" in sms


def test_no_text_message_when_the_url_leaves_no_room():
    assert compose_text_message(details(portal_url="https://p.example/" + "x" * 160)) is None


def test_text_message_turns_practice_name_into_gsm7():
    sms = compose_text_message(details(practice_name="Pédiatrie Łódź ☀"))
    assert sms is not None and gsm7_length(sms) is not None


def test_email_has_practice_url_pin_expiry_steps_and_only_the_first_name():
    email = compose_email(details())
    for part in (email.text, email.html):
        assert "Cedar Pediatrics" in part and "ABCD-1234" in part
        assert "https://portal.cedar.example/portal/register" in part
        assert "December 3, 2026" in part
        assert "Sofía" in part
    assert "How to register" in email.text and "<ol>" in email.html
    assert "<img" not in email.html  # readable with images off


def test_production_hashes_pins_with_werkzeugs_full_strength_scrypt():
    from services.credentials.pins import hash_secret
    from services.credentials.registration import SigningKeys

    assert hash_secret("ABCD1234").startswith("scrypt:32768:8:1$")
    keys = SigningKeys.from_config({"PIN_LOOKUP_KEY": b"k", "SECRET_KEY": "s"})
    assert keys.hash_method == "scrypt"
