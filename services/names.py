"""Name normalisation for search, and the placeholder names newborns are registered under."""

from __future__ import annotations

import re
import unicodedata

# First names a hospital gives before the parents choose one. Compared after normalisation.
_PLACEHOLDER_FIRST_NAME = re.compile(
    r"^(?:baby(?: (?:boy|girl|[a-z]|\d+))?|boy|girl|infant|newborn|unknown|twin(?: [a-z]|\d+)?"
    r"|(?:boy|girl|infant|twin) (?:[a-z]|\d+))$"
)


def normalize_name(value: str) -> str:
    """Lower-case, accent-free, single-spaced: 'Núñez ' -> 'nunez'."""
    decomposed = unicodedata.normalize("NFKD", value)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.casefold().split())


def is_placeholder_first_name(first_name: str) -> bool:
    """True for 'Baby Boy', 'baby  girl', 'Twin A', 'Newborn' and their kin."""
    return bool(_PLACEHOLDER_FIRST_NAME.match(normalize_name(first_name)))
