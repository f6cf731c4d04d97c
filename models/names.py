"""Names as stored and as searched: the one rule behind patients' first_name and last_name
(`clean_name`, for the import, Update Basic Info and every other way in), their normalised copies
first_name_norm and last_name_norm (`normalize_name`, also the unofficial-name guard's rule, which needs
the spaces: `Boyd` is not `Boy D`), and the search keys first_name_key, last_name_key and
last_name_part_key (`search_key`, `surname_part_key`: what typed names match, and the results'
order)."""

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


def search_key(value: str) -> str:
    """The name as search matches it: normalised, then letters and digits only, so apostrophes,
    hyphens and spaces do not count: "O'Brien" and "o brien" -> 'obrien', 'Smith-Jones' ->
    'smithjones'. A name with no letter or digit at all keeps its normalised form (never empty)."""
    normalized = normalize_name(value)
    return "".join(ch for ch in normalized if ch.isalnum()) or normalized


def surname_part_key(value: str) -> str:
    """The search key of a surname's last part, when it has more than one (parts are separated by
    spaces and dashes), so `lopez` finds García López and `jones` finds Smith-Jones; '' otherwise.
    (The whole surname's key finds the first part: `garcia` is a prefix of 'garcialopez'.)"""
    spaced = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in normalize_name(value))
    parts = [part for part in spaced.split() if any(ch.isalnum() for ch in part)]
    return search_key(parts[-1]) if len(parts) > 1 else ""
