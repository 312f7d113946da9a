"""What a job handler receives and how it reports failure.

A handler is ``Callable[[Job], None]``. It runs outside any transaction, so it may call out
over the network first; it then writes its database effect inside ``job.completing()``, which
marks the item done in the same transaction. It must be idempotent: delivery is at least once,
and a worker may die after an external call but before the commit, so the next attempt repeats
everything before the commit. A handler whose only effect is outside the database may simply
return; the runner then marks the item done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.store import Claim, complete_work_item, renew_lease

Clock = Callable[[], dt.datetime]
MAX_RETRY_DELAY = dt.timedelta(hours=1)


class WorkError(Exception):
    """A failure whose message is safe to store on the work item (no customer data, no
    secrets). Any other exception is stored as its class name only."""


class PermanentWorkError(WorkError):
    """A failure that another attempt cannot fix (the referenced row is gone, say): the item
    fails at once instead of being retried."""


class Job:
    """One claimed attempt at one work item, handed to its handler."""

    __slots__ = ("_clock", "_completed", "_lease", "_sessions", "claim")

    def __init__(
        self, *, claim: Claim, sessions: sessionmaker[Session], lease: dt.timedelta, clock: Clock
    ) -> None:
        self.claim = claim
        self._sessions = sessions
        self._lease = lease
        self._clock = clock
        self._completed = False

    @property
    def completed(self) -> bool:
        return self._completed

    def now(self) -> dt.datetime:
        """The queue's clock (UTC); handlers use it instead of reading the time themselves."""
        return self._clock()

    @contextmanager
    def completing(self) -> Iterator[Session]:
        """A unit of work that also marks the item done, just before it commits.

        Raises ``LeaseLostError`` (after rolling back the block's writes) when another attempt
        has claimed the item in the meantime, so the effect is never written twice."""
        with unit_of_work(self._sessions) as session:
            yield session
            complete_work_item(session, claim=self.claim, now=self._clock())
        self._completed = True

    def renew_lease(self) -> None:
        """Keep the item for another full lease; call it between steps of a long job.
        Raises ``LeaseLostError`` when the claim has been lost already."""
        with unit_of_work(self._sessions) as session:
            self.claim = renew_lease(session, claim=self.claim, lease=self._lease, now=self._clock())


Handler = Callable[[Job], None]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler and its retry policy: attempt ``n`` that fails waits
    ``retry_delay * retry_backoff ** (n - 1)`` (at most an hour) before attempt ``n + 1``."""

    handler: Handler
    max_attempts: int
    retry_delay: dt.timedelta
    retry_backoff: float

    def delay_after(self, attempt: int) -> dt.timedelta:
        return min(self.retry_delay * self.retry_backoff ** (attempt - 1), MAX_RETRY_DELAY)


def describe_error(exc: BaseException) -> str:
    """What to store on the item: the class name, plus the message for a ``WorkError``."""
    name = type(exc).__name__
    if isinstance(exc, WorkError) and str(exc):
        return f"{name}: {exc}"[:200]
    return name
