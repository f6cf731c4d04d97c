"""Who performs an action: every state change is one service call that takes an Actor and
writes its rows, its audit row and any outbox row in one transaction (`unit_of_work`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session

from models import utcnow


@dataclass(frozen=True)
class Actor:
    """Who (a staff member, a parent, or the command line), in which practice, from which client
    address, and the clock the action reads. Parents and the command line have no staff id."""

    practice_id: int | None
    staff_id: int | None = None
    staff_username: str | None = None
    client_ip: str | None = None
    clock: Callable[[], datetime] = field(default=utcnow, compare=False)
    command_line: bool = False

    def now(self) -> datetime:
        return self.clock()

    def in_practice(self, practice_id: int | None) -> Actor:
        """The same person acting in (or found to be acting on) another practice's rows: a parent
        whose PIN names a practice, a worker sending one practice's message."""
        return replace(self, practice_id=practice_id)

    @classmethod
    def for_command_line(cls, practice_id: int | None = None, clock: Callable[[], datetime] = utcnow) -> Actor:
        return cls(practice_id=practice_id, clock=clock, command_line=True)


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """One action's transaction: what is written inside commits together, audit row included,
    or nothing does (a refused audit insert undoes the action)."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
