"""Growing delays for repeated failures: a delay, never a lock.

Used where a lock would let a stranger shut someone else out: wrong PINs typed with one date of
birth (the portal), and failed sign-ins of one staff username (known or not). Each scope counts
the attempts of a key within a window until one succeeds: the first few are free, then each
further one makes the key wait 2, 4, 8 ... seconds, capped at a minute, before its next attempt
is even checked. The window starts at the first attempt; once it has passed, counting starts
again.

The callers choose keys a stranger cannot share with the rightful person: a date of birth with
the client's address (services/credentials/redemption.py); a username with the browser that has
signed in as it before, or else the username alone for every other browser
(services/identity/staff_sessions.py). The counts live in the database
(models/throttle.py), so every process and instance sees the same ones; an attempt is counted
before it is checked (`attempt`), so that concurrent ones cannot all get through. The key is
stored only as an HMAC under a key kept outside the database. Nothing here sleeps: a request
that must wait is refused at once and told how long."""

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
from services.actor import unit_of_work


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


def _insert_for(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert


def attempt(session: Session, secret: bytes, scope: ThrottleScope, key: str, now: datetime) -> int:
    """Count one attempt of the key before it is checked, in a short transaction of its own, and
    return 0; or, while the key waits out its delay, count nothing and return the whole seconds
    left (rounded up). Every attempt counts until a success clears the key (`clear`).

    Counting before checking, with one conditional upsert, is what keeps concurrent attempts
    from slipping through together: past the free ones, only one attempt per delay gets in,
    however many arrive at once and in whichever process (the row is locked while it counts)."""
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
        where=Throttle.not_before.is_(None) | (Throttle.not_before <= now),
    ).returning(Throttle.failures)
    mine = Throttle.scope == scope, Throttle.key_digest == digest
    with unit_of_work(session):
        failures = session.execute(upsert).scalar_one_or_none()
        if failures is None:  # still waiting: the upsert's condition left the row alone
            not_before = session.scalar(select(Throttle.not_before).where(*mine))
            return max(1, math.ceil((not_before - now).total_seconds())) if not_before else 1
        delay = policy.delay_after(failures)
        if delay:
            session.execute(
                update(Throttle).where(*mine).values(not_before=now + timedelta(seconds=delay))
                .execution_options(synchronize_session=False)
            )
        _forget_ended_windows(session, scope, policy, now)
    return 0


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
