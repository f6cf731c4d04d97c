"""What staff and portal sessions share: the random token a cookie carries and the SHA-256 the
database keeps instead, the idle and absolute limits, and why a session row is not live.

Both tables (staff_sessions, portal_sessions) have the same clocks: created_at, last_seen_at,
ended_at with end_reason."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

# Activity is written at most this often, so a page of clicks costs one UPDATE, not one each.
ACTIVITY_RESOLUTION = timedelta(seconds=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token for the cookie, and the hash to store (the only form the database sees)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_config(cls, config) -> SessionLimits:
        """Staff sessions' limits."""
        return cls(
            idle=timedelta(minutes=float(config.get("SESSION_IDLE_MINUTES", 15))),
            absolute=timedelta(hours=float(config.get("SESSION_MAX_HOURS", 8))),
        )

    @classmethod
    def portal_from_config(cls, config) -> SessionLimits:
        """Parents' portal sessions' limits (their own keys: a parent reads longer than staff click)."""
        return cls(
            idle=timedelta(minutes=float(config.get("PORTAL_SESSION_IDLE_MINUTES", 30))),
            absolute=timedelta(hours=float(config.get("PORTAL_SESSION_MAX_HOURS", 12))),
        )


class SessionRow(Protocol):
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    end_reason: str | None


def expiry_reason(row: SessionRow, limits: SessionLimits, now: datetime) -> str | None:
    """Why the session is not live (its stored end reason, 'too old' or 'idle'), or None."""
    if row.ended_at is not None:
        return row.end_reason
    if now - row.created_at >= limits.absolute:
        return "too old"
    if now - row.last_seen_at >= limits.idle:
        return "idle"
    return None


class SessionEnded(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
