"""Growing delays for repeated failures: a delay, never a lock.

Used where a lock would let a stranger shut someone else out: wrong PINs typed with one date of
birth (the portal), and failed sign-ins of one staff username (known or not). Each scope counts
the failures of a key within a window: the first few are free, then each further failure makes
the key wait 2, 4, 8 ... seconds, capped at a minute, before its next attempt is even checked.
The window starts at the first failure; once it has passed, counting starts again.

The counts live in the database (models/throttle.py), so every process and instance sees the
same ones, and `fail` writes in the caller's transaction, beside the failure's audit row. The
key is stored only as an HMAC under a key kept outside the database. Nothing here sleeps: a
request that must wait is refused at once and told how long (`check`)."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Throttle
from models.base import UTCDateTime
from models.vocabulary import ThrottleScope


@dataclass(frozen=True)
class Policy:
    free_failures: int  # failures within the window before any delay
    window: timedelta
    first_delay_seconds: int = 2
    max_delay_seconds: int = 60

    def delay_after(self, failures: int) -> int:
        """Seconds the key waits after its `failures`-th failure in the window: 0, then 2, 4, 8 ..."""
        beyond = failures - self.free_failures
        if beyond <= 0:
            return 0
        return min(self.max_delay_seconds, self.first_delay_seconds * 2 ** min(beyond - 1, 16))


POLICIES = {
    # Parents mistype; a few parents may share a birthday. 40-bit PINs need no more than this
    # (and the per-client limits) to be out of reach of guessing.
    ThrottleScope.BIRTH_DATE: Policy(free_failures=5, window=timedelta(minutes=15)),
    ThrottleScope.STAFF_USERNAME: Policy(free_failures=4, window=timedelta(minutes=15)),
}
# Rows whose window has ended are forgotten a few at a time by later failures of their scope.
PURGE_BATCH = 100


def key_digest(secret: bytes, scope: ThrottleScope, key: str) -> str:
    return hmac.new(secret, f"{scope.value}\0{key}".encode(), hashlib.sha256).hexdigest()


def check(session: Session, secret: bytes, scope: ThrottleScope, key: str, now: datetime) -> int:
    """Whole seconds the key must still wait before an attempt is checked (rounded up), or 0."""
    not_before = session.scalar(
        select(Throttle.not_before).where(Throttle.scope == scope, Throttle.key_digest == key_digest(secret, scope, key))
    )
    if not_before is None or not_before <= now:
        return 0
    return max(1, math.ceil((not_before - now).total_seconds()))


def _insert_for(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert


def fail(session: Session, secret: bytes, scope: ThrottleScope, key: str, now: datetime) -> int:
    """Count one failure of the key, in the caller's transaction (never commits). Returns the
    seconds it now waits (0 while its failures are free).

    One atomic upsert counts it, so concurrent failures from several processes each count; on
    PostgreSQL the row stays locked until the caller commits, so the delays they set follow the
    order of their counts."""
    policy = POLICIES[scope]
    digest = key_digest(secret, scope, key)
    window_over = Throttle.window_started_at <= now - policy.window
    insert = _insert_for(session)(Throttle).values(
        scope=scope.value, key_digest=digest, failures=1, window_started_at=now, not_before=None
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[Throttle.scope, Throttle.key_digest],
        set_={
            "failures": case((window_over, 1), else_=Throttle.failures + 1),
            "window_started_at": case((window_over, literal(now, UTCDateTime)), else_=Throttle.window_started_at),
        },
    ).returning(Throttle.failures)
    failures = session.execute(upsert).scalar_one()
    delay = policy.delay_after(failures)
    if delay:
        session.execute(
            update(Throttle)
            .where(Throttle.scope == scope, Throttle.key_digest == digest)
            .values(not_before=now + timedelta(seconds=delay))
            .execution_options(synchronize_session=False)
        )
    _forget_ended_windows(session, scope, policy, now)
    return delay


def _forget_ended_windows(session: Session, scope: ThrottleScope, policy: Policy, now: datetime) -> None:
    """Delete a few rows whose window and delay are over. Rows another transaction holds are
    skipped (SKIP LOCKED on PostgreSQL), so forgetting never waits and never deadlocks."""
    ended = (
        select(Throttle.id)
        .where(
            Throttle.scope == scope,
            Throttle.window_started_at <= now - policy.window,
            (Throttle.not_before.is_(None)) | (Throttle.not_before <= now),
        )
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(Throttle).where(Throttle.id.in_(ended)).execution_options(synchronize_session=False))


def clear(session: Session, secret: bytes, scope: ThrottleScope, key: str) -> None:
    """Forget the key's failures (a success), in the caller's transaction."""
    session.execute(
        delete(Throttle)
        .where(Throttle.scope == scope, Throttle.key_digest == key_digest(secret, scope, key))
        .execution_options(synchronize_session=False)
    )
