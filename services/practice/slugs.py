"""A practice's slug, the name its links carry (`PORTAL_URL?practice=SLUG`; models/practice.py
says what a slug may hold). Made once from the name when the practice is created, and then
kept: a link already on paper or in an inbox must go on naming the same practice."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Practice
from models.practice import SLUG_MAX_LENGTH, SLUG_PATTERN

FALLBACK_SLUG = "practice"
_SLUG = re.compile(SLUG_PATTERN)


def slug_of_name(name: str) -> str:
    """`Cedar Pediatrics & Family` → `cedar-pediatrics-family`: accents dropped, anything but an
    ASCII letter or digit a hyphen, at most SLUG_MAX_LENGTH (a name with no letter or digit: `practice`)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:SLUG_MAX_LENGTH].rstrip("-")
    return slug or FALLBACK_SLUG


def numbered(slug: str, number: int) -> str:
    """The slug's `number`th variant (`cedar-2`), shortened so the suffix fits SLUG_MAX_LENGTH."""
    if number < 2:
        return slug
    suffix = f"-{number}"
    return slug[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix


def unused_slug(session: Session, name: str) -> str:
    """The name's slug, or its first numbered variant (`-2`, `-3`, …) no practice holds."""
    slug = slug_of_name(name)
    taken = set(session.scalars(select(Practice.slug)))
    number = 1
    while numbered(slug, number) in taken:
        number += 1
    return numbered(slug, number)


def is_slug(value: str | None) -> bool:
    return bool(value) and len(value) <= SLUG_MAX_LENGTH and _SLUG.fullmatch(value) is not None


def practice_for_slug(session: Session, slug: str | None) -> Practice | None:
    """The practice a link's `?practice=` names, or None."""
    if not is_slug(slug):
        return None
    return session.scalar(select(Practice).where(Practice.slug == slug))
