"""Parts outside the code that some tests need (Redis, PostgreSQL, Chromium, gunicorn): without one
a test skips on a developer's machine, saying what is missing; in CI (CI=true) it fails, because a
skip there would let a green run pass code nobody tested. Every such skip goes through
`require_part`, so none can forget the CI rule."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
from sqlalchemy import make_url

from tests.support import app_settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_part(name: str, reason: str) -> NoReturn:
    """`name` (e.g. "Redis") is missing for `reason`: skip, or in CI fail the test."""
    message = f"{name} missing: {reason}"
    if app_settings.IN_CI:
        pytest.fail(f"CI runs every test, so a missing part fails it. {message}", pytrace=False)
    pytest.skip(message)


def redis_database(number: int, url: str = REDIS_URL) -> str:
    """The same Redis server as `url`, another database (a test that cannot use a key prefix,
    such as a server in a subprocess, counts in a database of its own)."""
    return make_url(url).set(database=str(number)).render_as_string(hide_password=False)


def forget_redis_keys(url: str, pattern: str) -> None:
    """Delete a test's counters (keys matching `pattern`) from the Redis at `url`."""
    import redis

    connection = redis.Redis.from_url(url)
    try:
        keys = list(connection.scan_iter(match=pattern))
        if keys:
            connection.delete(*keys)
    finally:
        connection.close()


def require_redis(url: str = REDIS_URL) -> None:
    """Redis answers at `url` (TEST_REDIS_URL, default redis://127.0.0.1:6379/15), or require_part."""
    try:
        import redis

        connection = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            connection.ping()
        finally:
            connection.close()
    except Exception as error:  # noqa: BLE001 - any failure means "no Redis here"
        require_part("Redis", f"no Redis reachable at {url} ({type(error).__name__}: {error}); start redis-server or set TEST_REDIS_URL")
