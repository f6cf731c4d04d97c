"""Fixtures the rate-limit and two-instance tests share: settings by indirect parametrisation
(Redis counting when asked) and a second app instance on the same database."""

from __future__ import annotations

import uuid

import pytest

from app import create_app
from blueprints.extensions import db
from tests.support.app_settings import config_for
from tests.support.outside_parts import REDIS_URL, forget_redis_keys, require_redis


@pytest.fixture
def app_config(request):
    """Overrides conftest's: settings come from indirect parametrisation. `"redis": True` counts
    in Redis under a key prefix unique to this test, removed afterwards."""
    settings = dict(getattr(request, "param", {}))
    prefix = None
    if settings.pop("redis", False):
        require_redis()
        prefix = f"portal-pins-test-{uuid.uuid4().hex}"
        settings.update(RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_KEY_PREFIX=prefix)
    yield settings
    if prefix:
        forget_redis_keys(REDIS_URL, f"*{prefix}*")


@pytest.fixture
def twin(app, database_url, smtp, app_config):
    """A second app instance with the same settings: what a second worker or server would be."""
    url, _ = database_url
    second = create_app(config_for(url, smtp[0].port, **app_config))
    yield second
    with second.app_context():
        db.session.remove()
        db.engine.dispose()

