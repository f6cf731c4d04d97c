"""What may stand in a header (a mail header, an HTTP response header): one line of visible text.

A mail header must not hold a character that Python's email generator or a mail client reads as
the end of a line: besides CR and LF, `str.splitlines` breaks at \\x0b, \\x0c, \\x1c-\\x1e, \\x85,
U+2028 and U+2029, and a subject holding one of them can carry a second header (a Reply-To) or
start the body. Every C0 and C1 control character, DEL, and the two Unicode separators are
refused, wherever a value becomes a header: the template editor and the mailer
(services/delivery/), practice names, htmx's response headers (blueprints/htmx.py)."""

from __future__ import annotations

import re

HEADER_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def breaks_a_header(value: str) -> bool:
    """True when `value` holds a control character or a line or paragraph separator."""
    return HEADER_BREAKING.search(value) is not None
