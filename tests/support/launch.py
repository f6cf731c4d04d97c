"""Launch tokens, as the host portal signs them for the embedded staff screens."""

from __future__ import annotations

import secrets

from itsdangerous import URLSafeTimedSerializer

LAUNCH_SECRET = "launch-secret-shared-with-the-host-portal"


def launch_token(claims: dict, secret: str = LAUNCH_SECRET, salt: str = "launch") -> str:
    return URLSafeTimedSerializer(secret, salt=salt).dumps(claims)


def claims(**overrides) -> dict:
    values = {"staff": "alex", "practice": "Cedar Pediatrics", "jti": secrets.token_urlsafe(16)}
    values.update(overrides)
    return values
