"""Name normalisation for search: the rule behind patients' first_name_norm and last_name_norm."""

from __future__ import annotations

import unicodedata


def normalize_name(value: str) -> str:
    """Lower-case, accent-free, single-spaced: 'Núñez ' -> 'nunez'."""
    decomposed = unicodedata.normalize("NFKD", value)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.casefold().split())
