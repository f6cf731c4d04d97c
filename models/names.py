"""Names as stored and as searched: the one rule behind patients' first_name and last_name
(`clean_name`, for the import, Update Basic Info and every other way in) and their search copies
first_name_norm and last_name_norm (`normalize_name`)."""

from __future__ import annotations

import unicodedata

# Unicode's format characters (zero-width spaces and joiners, bidi embeddings, overrides and
# isolates, the BOM, the soft hyphen) and control characters: invisible, they would make a name
# read differently from what it holds, or two names read alike.
_INVISIBLE_CATEGORIES = ("Cf", "Cc")


def clean_name(value: str) -> str:
    """The name without invisible characters, single-spaced: 'Em\u200bma\u202e ' -> 'Emma'.
    (Control characters that are whitespace, such as a tab, separate words like a space.)"""
    visible = "".join(ch for ch in value if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)
    return " ".join(visible.split())


def normalize_name(value: str) -> str:
    """Lower-case, accent-free, single-spaced: 'Núñez ' -> 'nunez'."""
    decomposed = unicodedata.normalize("NFKD", clean_name(value))
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.casefold().split())
