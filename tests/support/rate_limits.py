"""Rate-limit checks: the 429 answer (Redis, which shared limits count in: tests/support/outside_parts.py)."""

from __future__ import annotations

import re


def refused(response) -> int:
    """Asserts a 429 that says when to retry and carries Retry-After; returns the seconds."""
    assert response.status_code == 429, f"expected 429 (rate limited), got {response.status_code}"
    body = response.get_data(as_text=True)
    match = RETRY.search(body)
    assert match, body
    seconds = int(response.headers["Retry-After"])
    if match.group(2) == "second":
        assert int(match.group(1)) == seconds
    return seconds

RETRY = re.compile(r"Too many attempts\. Try again in (\d+) (second|minute|hour)s?\.")
