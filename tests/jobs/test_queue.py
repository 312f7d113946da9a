"""Delivery through the queue: enqueue after commit, run, retry, fail, sweep, periodic work."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.infra.db.uow import transaction_open, unit_of_work
from hushdesk.infra.jobs.handlers import Job, PermanentWorkError, WorkError
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.infra.jobs.queue import JobQueue, Outcome, UnknownWorkKindError, enqueue_work, slot_start
from hushdesk.infra.jobs.store import add_work_item, claim_work_item
from hushdesk.workspaces.models import Region, Workspace
from hushdesk.workspaces.service import do_create_workspace
from tests.jobs.conftest import LEASE, FakeClock, queued_messages

KIND = "test.effect"


def _effect_handler(job: Job) -> None:
    """Writes a workspace named after the item, and completes, in one transaction."""
    with job.completing() as session:
        do_create_workspace(session, name=f"effect {job.claim.item_id}", region=Region.EU)


def _item(sessions: sessionmaker[Session], item_id: uuid.UUID) -> WorkItem:
    with unit_of_work(sessions) as session:
        item = session.get(WorkItem, item_id)
        assert item is not None
        return item


def _enqueue(queue: JobQueue, sessions: sessionmaker[Session], key: str = "k") -> uuid.UUID:
    with unit_of_work(sessions) as session:
        return enqueue_work(session, queue=queue, kind=KIND, idempotency_key=key, payload={})


def _workspaces(sessions: sessionmaker[Session]) -> int:
    with unit_of_work(sessions) as session:
        return session.scalar(select(func.count()).select_from(Workspace)) or 0


def test_enqueue_pushes_only_after_commit_and_only_once(
    queue: JobQueue, sessions: sessionmaker[Session]
) -> None:
    queue.register_handler(KIND, _effect_handler)
    with unit_of_work(sessions) as session:
        item_id = enqueue_work(session, queue=queue, kind=KIND, idempotency_key="m1", payload={})
        assert queued_messages(queue) == 0
    assert queued_messages(queue) == 1
    assert _enqueue(queue, sessions, key="m1") == item_id
    assert queued_messages(queue) == 1
    message = queue.huey.dequeue()
    assert message.args == (str(item_id),)


def test_nothing_is_pushed_or_kept_when_the_transaction_rolls_back(
    queue: JobQueue, sessions: sessionmaker[Session]
) -> None:
    queue.register_handler(KIND, _effect_handler)
    with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
        enqueue_work(session, queue=queue, kind=KIND, idempotency_key="m1", payload={})
        raise RuntimeError("the request failed")
    assert queued_messages(queue) == 0
    with unit_of_work(sessions) as session:
        assert session.scalar(select(WorkItem.id)) is None


def test_enqueueing_a_kind_without_a_handler_is_refused(
    queue: JobQueue, sessions: sessionmaker[Session]
) -> None:
    with pytest.raises(UnknownWorkKindError), unit_of_work(sessions) as session:
        enqueue_work(session, queue=queue, kind="nobody.handles.this", idempotency_key="m1", payload={})


def test_a_message_runs_the_handler_and_its_effect_commits_with_done(
    queue: JobQueue, sessions: sessionmaker[Session]
) -> None:
    queue.register_handler(KIND, _effect_handler)
    item_id = _enqueue(queue, sessions)
    queue.huey.execute(queue.huey.dequeue())
    item = _item(sessions, item_id)
    assert (item.state, item.attempts, item.claimed_by) == ("done", 1, queue.worker_name)
    assert _workspaces(sessions) == 1
    # A duplicate message (at-least-once delivery) finds nothing to do.
    assert queue.run_work_item(item_id).outcome is Outcome.NOT_CLAIMABLE
    assert _workspaces(sessions) == 1


def test_a_handler_without_a_database_effect_is_marked_done(
    queue: JobQueue, sessions: sessionmaker[Session]
) -> None:
    calls: list[uuid.UUID] = []
    queue.register_handler(KIND, lambda job: calls.append(job.claim.item_id))
    item_id = _enqueue(queue, sessions)
    assert queue.run_work_item(item_id).outcome is Outcome.DONE
    assert calls == [item_id]
    assert _item(sessions, item_id).state == "done"


def test_handlers_run_outside_any_transaction(queue: JobQueue, sessions: sessionmaker[Session]) -> None:
    seen: list[bool] = []

    def calls_out(job: Job) -> None:
        seen.append(transaction_open())  # where a network call would happen
        with job.completing():
            seen.append(transaction_open())

    queue.register_handler(KIND, calls_out)
    assert queue.run_work_item(_enqueue(queue, sessions)).outcome is Outcome.DONE
    assert seen == [False, True]


def test_a_failure_is_retried_with_back_off_and_stores_no_message_text(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    def fails_with_customer_text(job: Job) -> None:
        raise ValueError("customer said: my password is hunter2")

    queue.register_handler(
        KIND, fails_with_customer_text, retry_delay=dt.timedelta(seconds=10), retry_backoff=3
    )
    item_id = _enqueue(queue, sessions)
    first = queue.run_work_item(item_id)
    assert (first.outcome, first.retry_in) == (Outcome.RETRY, dt.timedelta(seconds=10))
    item = _item(sessions, item_id)
    assert (item.state, item.last_error, item.available_at) == (
        "pending",
        "ValueError",
        clock() + dt.timedelta(seconds=10),
    )
    assert queue.run_work_item(item_id).outcome is Outcome.NOT_CLAIMABLE
    clock.advance(dt.timedelta(seconds=10))
    assert queue.run_work_item(item_id).retry_in == dt.timedelta(seconds=30)


def test_huey_carries_the_retry_with_its_delay(queue: JobQueue, sessions: sessionmaker[Session]) -> None:
    queue.register_handler(KIND, lambda job: (_ for _ in ()).throw(RuntimeError("boom")))
    _enqueue(queue, sessions)
    queue.huey.execute(queue.huey.dequeue())
    assert (queue.huey.pending_count(), queue.huey.scheduled_count()) == (0, 1)


def test_the_last_attempt_fails_the_item(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    def fails(job: Job) -> None:
        raise WorkError("provider answered 503")

    queue.register_handler(KIND, fails, max_attempts=2, retry_delay=dt.timedelta(seconds=1))
    item_id = _enqueue(queue, sessions)
    assert queue.run_work_item(item_id).outcome is Outcome.RETRY
    clock.advance(dt.timedelta(seconds=1))
    assert queue.run_work_item(item_id).outcome is Outcome.FAILED
    item = _item(sessions, item_id)
    assert (item.state, item.attempts, item.last_error) == ("failed", 2, "WorkError: provider answered 503")


def test_a_permanent_failure_is_not_retried(queue: JobQueue, sessions: sessionmaker[Session]) -> None:
    def gone(job: Job) -> None:
        raise PermanentWorkError("the conversation no longer exists")

    queue.register_handler(KIND, gone)
    item_id = _enqueue(queue, sessions)
    assert queue.run_work_item(item_id).outcome is Outcome.FAILED
    assert _item(sessions, item_id).attempts == 1


def test_a_failed_effect_transaction_commits_nothing(
    queue: JobQueue, sessions: sessionmaker[Session]
) -> None:
    def half_done(job: Job) -> None:
        with job.completing() as session:
            do_create_workspace(session, name="half", region=Region.EU)
            raise RuntimeError("crash before commit")

    queue.register_handler(KIND, half_done)
    item_id = _enqueue(queue, sessions)
    assert queue.run_work_item(item_id).outcome is Outcome.RETRY
    assert _workspaces(sessions) == 0
    assert _item(sessions, item_id).state == "pending"


def test_a_worker_without_the_handler_leaves_the_item_alone(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    with unit_of_work(sessions) as session:
        item_id, _ = add_work_item(session, kind="newer.kind", idempotency_key="k", payload={}, now=clock())
    assert queue.run_work_item(item_id).outcome is Outcome.UNKNOWN_KIND
    assert queue.run_work_item(uuid.uuid4()).outcome is Outcome.NOT_CLAIMABLE
    assert _item(sessions, item_id).state == "pending"


def test_the_startup_sweep_requeues_pending_and_abandoned_running_work(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    queue.register_handler(KIND, _effect_handler)
    lost = _enqueue(queue, sessions, key="lost")
    abandoned = _enqueue(queue, sessions, key="abandoned")
    queue.huey.flush()  # the queue lost every message
    with unit_of_work(sessions) as session:
        claim_work_item(session, item_id=abandoned, worker="dead", lease=LEASE, max_attempts=5, now=clock())
    assert queue.sweep(startup=True) == 2
    messages = {task.args[0]: task.eta for task in queue.huey.pending()}
    assert messages.keys() == {str(lost), str(abandoned)}
    assert messages[str(lost)] is None
    # The abandoned item is delivered when its lease ends, not before.
    lease_end = (clock() + LEASE).replace(tzinfo=None)
    assert abs(messages[str(abandoned)] - lease_end) < dt.timedelta(seconds=5)


def test_the_periodic_sweep_requeues_only_overdue_work(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    queue.register_handler(KIND, _effect_handler)
    item_id = _enqueue(queue, sessions)
    queue.huey.flush()
    assert queue.sweep(startup=False) == 0
    clock.advance(dt.timedelta(minutes=1))
    assert queue.sweep(startup=False) == 1
    assert queue.huey.dequeue().args == (str(item_id),)


def test_the_tick_is_a_periodic_task_registered_with_huey(queue: JobQueue) -> None:
    periodic = [task.name for task in queue.huey._registry.periodic_tasks]
    assert periodic == ["tick"]


def test_periodic_work_is_created_once_per_slot(
    queue: JobQueue, sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    queue.register_handler(KIND, _effect_handler)
    queue.register_periodic(KIND, every=dt.timedelta(hours=1))
    queue.tick()
    queue.tick()  # another machine's tick in the same slot
    clock.advance(dt.timedelta(hours=1))
    queue.tick()
    with unit_of_work(sessions) as session:
        items = session.execute(
            select(WorkItem.idempotency_key, WorkItem.id).order_by(WorkItem.idempotency_key)
        )
        keys, ids = zip(*items, strict=True)
    first_slot = slot_start(clock() - dt.timedelta(hours=1), dt.timedelta(hours=1))
    assert keys == (
        f"slot:{first_slot.isoformat()}",
        f"slot:{(first_slot + dt.timedelta(hours=1)).isoformat()}",
    )
    # Both were pushed (the first once more by the later tick's sweep, as it was never taken).
    assert {task.args[0] for task in queue.huey.pending()} == {str(item_id) for item_id in ids}


def test_periodic_work_needs_a_handler_and_a_sensible_interval(queue: JobQueue) -> None:
    with pytest.raises(UnknownWorkKindError):
        queue.register_periodic(KIND, every=dt.timedelta(hours=1))
    queue.register_handler(KIND, _effect_handler)
    with pytest.raises(ValueError, match="two minutes"):
        queue.register_periodic(KIND, every=dt.timedelta(minutes=1))
    with pytest.raises(ValueError, match="registered already"):
        queue.register_handler(KIND, _effect_handler)


def test_slots_are_aligned_to_utc() -> None:
    now = dt.datetime(2026, 5, 4, 13, 47, 12, tzinfo=dt.UTC)
    assert slot_start(now, dt.timedelta(hours=1)) == dt.datetime(2026, 5, 4, 13, tzinfo=dt.UTC)
    assert slot_start(now, dt.timedelta(days=1)) == dt.datetime(2026, 5, 4, tzinfo=dt.UTC)


def test_ping_reaches_the_queue_storage(queue: JobQueue) -> None:
    queue.ping()
