"""Rate-limit checks: the 429 answer, and the Redis that shared limits count in."""

from __future__ import annotations

import os
import re

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as error:  # noqa: BLE001 - any failure means "no Redis here"
        pytest.skip(f"Redis tests skipped: no Redis reachable at {REDIS_URL} ({error}); set TEST_REDIS_URL")


def refused(response) -> int:
    """Asserts a 429 that says when to retry and carries Retry-After; returns the seconds."""
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    match = RETRY.search(body)
    assert match, body
    seconds = int(response.headers["Retry-After"])
    if match.group(2) == "second":
        assert int(match.group(1)) == seconds
    return seconds

RETRY = re.compile(r"Too many attempts\. Try again in (\d+) (second|minute|hour)s?\.")
