"""The job queue: a typed face on huey, the handler registry, and delivery from the database.

Delivery is at least once and the database decides what is left to do:

1. ``enqueue_work`` writes a ``work_item`` row in the caller's transaction and, once that
   transaction commits, pushes a message holding only the row's id.
2. A worker takes a message and ``run_work_item`` claims the row (one atomic UPDATE), runs the
   handler outside any transaction, and the handler marks the row done in the transaction
   that writes its effect. A failure sends the row back to pending with a back-off (huey's
   ``RetryTask`` carries the retry) until ``max_attempts``, then marks it failed.
3. ``sweep`` pushes again whatever the rows say is unfinished: at worker start everything
   (running items when their lease ends), and every minute what is overdue. A lost message, a
   killed worker or a failed push therefore delays work; it never loses it.

Duplicate messages are harmless: the claim lets one through and the rest find nothing to do.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from huey import crontab
from huey.exceptions import RetryTask
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.handlers import Clock, Handler, HandlerSpec, Job, PermanentWorkError, describe_error
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.infra.jobs.store import (
    Claim,
    LeaseLostError,
    add_work_item,
    claim_work_item,
    find_unfinished_work,
    release_after_failure,
)

log = logging.getLogger(__name__)

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_PUSH_AFTER_COMMIT = "hushdesk.jobs.push_after_commit"


class Outcome(enum.StrEnum):
    DONE = "done"
    RETRY = "retry"
    FAILED = "failed"
    NOT_CLAIMABLE = "not_claimable"
    UNKNOWN_KIND = "unknown_kind"
    LEASE_LOST = "lease_lost"


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: Outcome
    retry_in: dt.timedelta | None = None


class UnknownWorkKindError(LookupError):
    """Work of a kind that has no registered handler."""


class JobQueue:
    """Handlers by kind, periodic work, and the huey instance that carries the messages.

    Build one per process with ``create_job_queue`` and register every handler before a
    consumer starts. ``clock`` is injectable so that tests can move time."""

    def __init__(
        self,
        *,
        huey: Any,
        sessions: sessionmaker[Session],
        lease: dt.timedelta,
        worker_name: str | None = None,
        clock: Clock = utcnow,
        sweep_grace: dt.timedelta = dt.timedelta(minutes=1),
        sweep_limit: int = 1000,
    ) -> None:
        self.huey = huey
        self.lease = lease
        self.worker_name = (worker_name or default_worker_name())[:128]
        self._sessions = sessions
        self._clock = clock
        self._sweep_grace = sweep_grace
        self._sweep_limit = sweep_limit
        self._handlers: dict[str, HandlerSpec] = {}
        self._periodic: dict[str, dt.timedelta] = {}
        self._work_task = huey.task(name="work")(self._on_message)
        huey.periodic_task(crontab(), name="tick")(self.tick)

    # ---- registry --------------------------------------------------------------------------

    def register_handler(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = 5,
        retry_delay: dt.timedelta = dt.timedelta(seconds=10),
        retry_backoff: float = 2.0,
    ) -> None:
        """Run ``handler`` for work of ``kind``. Raises ``ValueError`` if the kind is taken."""
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is registered already")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._handlers[kind] = HandlerSpec(handler, max_attempts, retry_delay, retry_backoff)

    def register_periodic(self, kind: str, *, every: dt.timedelta) -> None:
        """Create one item of ``kind`` per ``every``-long slot (aligned to UTC), however many
        workers run: the slot's start is the idempotency key. The minute tick creates the
        item, so ``every`` must be at least two minutes for no slot to be missed."""
        if kind not in self._handlers:
            raise UnknownWorkKindError(kind)
        if every < dt.timedelta(minutes=2):
            raise ValueError("periodic work runs at most every two minutes")
        self._periodic[kind] = every

    def handles(self, kind: str) -> bool:
        return kind in self._handlers

    @property
    def periodic_work(self) -> Mapping[str, dt.timedelta]:
        return dict(self._periodic)

    def now(self) -> dt.datetime:
        return self._clock()

    # ---- messages --------------------------------------------------------------------------

    def push(self, item_id: uuid.UUID, *, delay: dt.timedelta = dt.timedelta(0)) -> None:
        """Send a message for ``item_id``, now or after ``delay``. Safe to repeat."""
        seconds = delay.total_seconds()
        if seconds > 0:
            self._work_task.schedule(args=(str(item_id),), delay=seconds)
        else:
            self._work_task(str(item_id))

    def ping(self) -> None:
        """Raise if the queue's storage cannot be reached (the readiness check)."""
        self.huey.storage.queue_size()

    def close(self) -> None:
        """Close the storage connection (it reopens on next use)."""
        self.huey.storage.close()

    def _on_message(self, item_id: str) -> None:
        result = self.run_work_item(uuid.UUID(item_id))
        if result.outcome is Outcome.RETRY and result.retry_in is not None:
            raise RetryTask(delay=result.retry_in.total_seconds())

    # ---- running work ----------------------------------------------------------------------

    def run_work_item(self, item_id: uuid.UUID) -> RunResult:
        """Claim ``item_id`` and run its handler; record the outcome on the row.

        Leaves the row alone when it is not claimable (done, failed, leased to a live worker,
        waiting for its back-off, missing) or when this process has no handler for its kind.
        """
        with unit_of_work(self._sessions) as session:
            kind = session.scalar(select(WorkItem.kind).where(WorkItem.id == item_id))
            if kind is None:
                return RunResult(Outcome.NOT_CLAIMABLE)
            spec = self._handlers.get(kind)
            if spec is None:
                log.warning("no handler for this kind of work here", extra={"work_kind": kind})
                return RunResult(Outcome.UNKNOWN_KIND)
            claim = claim_work_item(
                session,
                item_id=item_id,
                worker=self.worker_name,
                lease=self.lease,
                max_attempts=spec.max_attempts,
                now=self._clock(),
            )
        if claim is None:
            return RunResult(Outcome.NOT_CLAIMABLE)
        job = Job(claim=claim, sessions=self._sessions, lease=self.lease, clock=self._clock)
        try:
            spec.handler(job)
            if not job.completed:
                with job.completing():
                    pass
        except LeaseLostError:
            log.info("work item taken over by another attempt", extra=_log_fields(job.claim))
            return RunResult(Outcome.LEASE_LOST)
        except Exception as exc:  # noqa: BLE001 - the job boundary: any failure is recorded, then retried or failed
            return self._record_failure(spec, job.claim, exc)
        return RunResult(Outcome.DONE)

    def _record_failure(self, spec: HandlerSpec, claim: Claim, exc: Exception) -> RunResult:
        final = isinstance(exc, PermanentWorkError) or claim.attempt >= spec.max_attempts
        retry_in = None if final else spec.delay_after(claim.attempt)
        log.warning("work item attempt failed", extra=_log_fields(claim), exc_info=exc)
        now = self._clock()
        with unit_of_work(self._sessions) as session:
            released = release_after_failure(
                session,
                claim=claim,
                error=describe_error(exc),
                retry_at=None if retry_in is None else now + retry_in,
                now=now,
            )
        if not released:
            return RunResult(Outcome.LEASE_LOST)
        return RunResult(Outcome.FAILED) if retry_in is None else RunResult(Outcome.RETRY, retry_in)

    # ---- periodic work and the sweep ---------------------------------------------------------

    def tick(self) -> int:
        """The minute tick (a huey periodic task): create this slot's periodic items, then
        sweep for overdue work. Returns how many messages were pushed."""
        now = self._clock()
        created: list[uuid.UUID] = []
        with unit_of_work(self._sessions) as session:
            for kind, every in self._periodic.items():
                item_id, is_new = add_work_item(
                    session,
                    kind=kind,
                    idempotency_key=f"slot:{slot_start(now, every).isoformat()}",
                    payload={},
                    now=now,
                )
                if is_new:
                    created.append(item_id)
        for item_id in created:
            self.push(item_id)
        return len(created) + self.sweep(startup=False)

    def sweep(self, *, startup: bool) -> int:
        """Push a message for unfinished work; returns how many.

        At startup: every pending item (delayed until it is available) and every running one
        (delayed until its lease ends; a killed worker's jobs come back this way). Otherwise:
        pending items overdue by more than the grace period (their message was lost) and
        running items whose lease has ended."""
        now = self._clock()
        with unit_of_work(self._sessions) as session:
            due = find_unfinished_work(
                session,
                pending_before=None if startup else now - self._sweep_grace,
                running_before=None if startup else now,
                limit=self._sweep_limit,
            )
        for item in due:
            self.push(item.item_id, delay=max(item.due_at - now, dt.timedelta(0)))
        return len(due)


def enqueue_work(
    session: Session,
    *,
    queue: JobQueue,
    kind: str,
    idempotency_key: str,
    payload: Mapping[str, object],
    workspace_id: uuid.UUID | None = None,
    delay: dt.timedelta = dt.timedelta(0),
) -> uuid.UUID:
    """Record work of ``kind`` in the caller's transaction; push it once that commits.

    Idempotent per ``(kind, idempotency_key)``: a repeat returns the first item's id and pushes
    nothing. The payload holds ids only (``InvalidPayloadError`` otherwise). Flushes; never
    commits. Raises ``UnknownWorkKindError`` for a kind without a handler. Nothing is pushed
    if the transaction rolls back; if the push fails or the process dies first, the sweep
    delivers the item within about a minute.
    """
    if not queue.handles(kind):
        raise UnknownWorkKindError(kind)
    now = queue.now()
    item_id, created = add_work_item(
        session,
        kind=kind,
        idempotency_key=idempotency_key,
        payload=payload,
        workspace_id=workspace_id,
        now=now,
        available_at=now + delay,
    )
    if created:
        _push_after_commit(session, queue, item_id, delay)
    return item_id


def slot_start(now: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the ``every``-long slot holding ``now``, slots counted from 2000-01-01 UTC."""
    return _EPOCH + ((now - _EPOCH) // every) * every


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _push_after_commit(session: Session, queue: JobQueue, item_id: uuid.UUID, delay: dt.timedelta) -> None:
    pending: list[tuple[JobQueue, uuid.UUID, dt.timedelta]] | None = session.info.get(_PUSH_AFTER_COMMIT)
    if pending is None:
        pending = session.info[_PUSH_AFTER_COMMIT] = []
        event.listen(session, "after_commit", _push_pending)
        event.listen(session, "after_rollback", _forget_pending)
    pending.append((queue, item_id, delay))


def _push_pending(session: Session) -> None:
    pending: list[tuple[JobQueue, uuid.UUID, dt.timedelta]] = session.info[_PUSH_AFTER_COMMIT]
    batch = list(pending)
    pending.clear()
    for queue, item_id, delay in batch:
        try:
            queue.push(item_id, delay=delay)
        except Exception:  # noqa: BLE001 - the row is committed; the sweep delivers it instead
            log.warning(
                "push after commit failed; the sweep will deliver", extra={"work_item_id": str(item_id)}
            )


def _forget_pending(session: Session) -> None:
    session.info[_PUSH_AFTER_COMMIT].clear()


def _log_fields(claim: Claim) -> dict[str, object]:
    return {"work_item_id": str(claim.item_id), "work_kind": claim.kind, "attempt": claim.attempt}
