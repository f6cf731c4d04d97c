"""PIN generation, display, entry normalisation and storage (README: The outside contract)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

from werkzeug.security import check_password_hash, generate_password_hash

# Crockford base32: no I, L, O or U.
PIN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PIN_LENGTH = 8
BUCKET_BITS = 16
_ENTRY_TRANSLATION = str.maketrans({"O": "0", "I": "1", "L": "1"})
# A salted KDF costs ~0.1 s; NIST 800-63B asks for one on secrets under 112 bits.
HASH_METHOD = "scrypt"


def generate_pin() -> str:
    """Eight Crockford base32 characters (40 bits) from the OS CSPRNG."""
    return "".join(secrets.choice(PIN_ALPHABET) for _ in range(PIN_LENGTH))


def format_pin(pin: str) -> str:
    """'ABCD1234' -> 'ABCD-1234', as shown to staff and parents."""
    return f"{pin[:4]}-{pin[4:]}"


def _is_separator(ch: str) -> bool:
    """Any space (no-break ones too) or dash (hyphen, en dash, minus sign...) a phone may type."""
    return ch.isspace() or unicodedata.category(ch) == "Pd" or ch == "\u2212"


def normalize_pin_entry(entry: str) -> str:
    """What a person typed -> the canonical PIN: case, spaces and dashes ignored; O=0, I=L=1."""
    text = unicodedata.normalize("NFKC", entry).upper()
    compact = "".join(ch for ch in text if not _is_separator(ch))
    return compact.translate(_ENTRY_TRANSLATION)


def hash_secret(normalised: str, method: str = HASH_METHOD) -> str:
    return generate_password_hash(normalised, method=method)


def secret_matches(stored_hash: str, normalised: str) -> bool:
    return check_password_hash(stored_hash, normalised)


_dummy_hashes: dict[str, str] = {}


def spend_one_verification(method: str = HASH_METHOD) -> None:
    """Costs what one secret_matches() costs, for attempts with nothing to verify, so that every
    failure takes the same time (STACK-NOTES: PIN lookup without timing leaks)."""
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash(secrets.token_hex(8), method=method)
    check_password_hash(_dummy_hashes[method], "not-the-secret")


def pin_bucket(lookup_key: bytes, normalised_pin: str) -> int:
    """A 16-bit keyed-HMAC bucket: names the few candidates to verify, reveals nothing alone."""
    digest = hmac.new(lookup_key, normalised_pin.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:2], "big")


def normalize_answer(answer: str) -> str:
    """Verification answers compare case- and space-insensitively (and however accents were typed)."""
    return "".join(unicodedata.normalize("NFKC", answer).casefold().split())
