"""Fixtures the delivery tests share: the child a PIN is issued for, a server that never answers."""

from __future__ import annotations

import socket
from datetime import date

import pytest

from tests.support.builders import make_patient


@pytest.fixture
def child(app, practice):
    return make_patient(app, practice, "Emma", "Carter", date(2018, 5, 17), guardian_email="dana.carter@example.com")


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never says a word (no SMTP greeting)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()
