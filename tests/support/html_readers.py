"""Values read out of a page's HTML, as a person or a form would read them."""

from __future__ import annotations

import html
import re


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page carries no CSRF token"
    return match.group(1)


def idempotency_key_from(html: str) -> str:
    match = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', html)
    assert match, "window carries no idempotency key"
    return match.group(1)


def pin_from(html: str) -> str:
    match = re.search(r'class="pin">([0-9A-Z]{4}-[0-9A-Z]{4})<', html)
    assert match, "no PIN shown"
    return match.group(1)


def names(response) -> list[str]:
    """The patient links as a person reads them (HTML entities decoded)."""
    return [html.unescape(n) for n in re.findall(r'<a href="/patients/\d+">([^<]+)</a>', response.get_data(as_text=True))]
