"""The placeholder names newborns are registered under (search normalisation: models/names.py)."""

from __future__ import annotations

import re

from models.names import normalize_name

# First names a hospital gives before the parents choose one. Compared after normalisation.
# Spacing and hyphens between the words are ignored ('BabyBoy', 'Baby-Girl 2', 'TwinA'); a
# one-letter suffix after boy/girl needs a separator, or 'Boyd' would read as 'Boy D'.
_SEP = r"[ -]*"
_PLACEHOLDER_FIRST_NAME = re.compile(
    rf"^(?:(?:baby|infant|newborn){_SEP}(?:boy|girl)?|boy|girl|unknown)(?:{_SEP}\d+|[ -]+[a-z])?$"
    rf"|^twin(?:{_SEP}(?:[a-z]|\d+))?$"
)


def is_placeholder_first_name(first_name: str) -> bool:
    """True for 'Baby Boy', 'baby  girl', 'Twin A', 'Newborn' and their kin."""
    return bool(_PLACEHOLDER_FIRST_NAME.match(normalize_name(first_name)))
