"""Claim, complete, release, sweep and idempotency of work items, on both engines."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.models import InvalidPayloadError, WorkItem, WorkState
from hushdesk.infra.jobs.store import (
    LOST_WORKER_ERROR,
    Claim,
    LeaseLostError,
    add_work_item,
    claim_work_item,
    complete_work_item,
    delete_finished_work,
    find_unfinished_work,
    release_after_failure,
    renew_lease,
)
from hushdesk.workspaces.models import Workspace
from tests.jobs.conftest import LEASE, FakeClock


def _add(
    sessions: sessionmaker[Session], clock: FakeClock, key: str = "k1", kind: str = "test.kind"
) -> uuid.UUID:
    with unit_of_work(sessions) as session:
        item_id, _ = add_work_item(session, kind=kind, idempotency_key=key, payload={"n": 1}, now=clock())
    return item_id


def _claim(
    sessions: sessionmaker[Session],
    clock: FakeClock,
    item_id: uuid.UUID,
    worker: str = "w1",
    max_attempts: int = 5,
) -> Claim | None:
    with unit_of_work(sessions) as session:
        return claim_work_item(
            session, item_id=item_id, worker=worker, lease=LEASE, max_attempts=max_attempts, now=clock()
        )


def _item(sessions: sessionmaker[Session], item_id: uuid.UUID) -> WorkItem:
    with unit_of_work(sessions) as session:
        item = session.get(WorkItem, item_id)
        assert item is not None
        return item


def test_adding_the_same_kind_and_key_twice_returns_the_first_item(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    workspace_id = uuid.uuid4()
    with unit_of_work(sessions) as session:
        first, created = add_work_item(
            session, kind="k", idempotency_key="msg-1", payload={"id": workspace_id}, now=clock()
        )
        assert created
    with unit_of_work(sessions) as session:
        again, created_again = add_work_item(
            session, kind="k", idempotency_key="msg-1", payload={"other": 2}, now=clock()
        )
        other_kind, other_created = add_work_item(
            session, kind="j", idempotency_key="msg-1", payload={}, now=clock()
        )
    assert (again, created_again) == (first, False)
    assert other_created
    assert other_kind != first
    item = _item(sessions, first)
    assert item.id.version == 7
    assert (item.state, item.attempts, item.payload) == ("pending", 0, {"id": str(workspace_id)})


@pytest.mark.parametrize("payload", [{"text": "hello there, my card is 4111"}, {"x": 1.5}, {"bad key": 1}])
def test_payloads_hold_ids_only(
    sessions: sessionmaker[Session], clock: FakeClock, payload: dict[str, object]
) -> None:
    with pytest.raises(InvalidPayloadError), unit_of_work(sessions) as session:
        add_work_item(session, kind="k", idempotency_key="p", payload=payload, now=clock())
    with unit_of_work(sessions) as session:
        assert session.scalar(select(WorkItem.id)) is None


def test_a_claim_takes_a_pending_item_and_a_live_lease_keeps_others_out(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id, worker="w1")
    assert claim is not None
    assert (claim.attempt, claim.kind, dict(claim.payload)) == (1, "test.kind", {"n": 1})
    item = _item(sessions, item_id)
    assert (item.state, item.attempts, item.claimed_by) == ("running", 1, "w1")
    assert item.lease_expires_at == clock() + LEASE
    clock.advance(LEASE - dt.timedelta(seconds=1))
    assert _claim(sessions, clock, item_id, worker="w2") is None


def test_an_expired_lease_lets_another_worker_take_over_and_fences_the_first(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    item_id = _add(sessions, clock)
    first = _claim(sessions, clock, item_id, worker="w1")
    assert first is not None
    clock.advance(LEASE)
    second = _claim(sessions, clock, item_id, worker="w2")
    assert second is not None
    assert second.attempt == 2
    # The first worker wakes up and tries to finish: its effect must not be committed.
    with pytest.raises(LeaseLostError), unit_of_work(sessions) as session:
        session.add(Workspace(name="effect", slug="effect-1", region="eu"))
        session.flush()
        complete_work_item(session, claim=first, now=clock())
    with unit_of_work(sessions) as session:
        complete_work_item(session, claim=second, now=clock())
    with unit_of_work(sessions) as session:
        assert session.scalar(select(Workspace.id)) is None
    item = _item(sessions, item_id)
    assert (item.state, item.attempts, item.claimed_by, item.completed_at) == ("done", 2, "w2", clock())


def test_a_done_item_is_never_claimed_again(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id)
    assert claim is not None
    with unit_of_work(sessions) as session:
        complete_work_item(session, claim=claim, now=clock())
    clock.advance(LEASE * 10)
    assert _claim(sessions, clock, item_id, worker="w2") is None
    with unit_of_work(sessions) as session:
        assert find_unfinished_work(session, pending_before=None, running_before=None, limit=10) == []


def test_completing_twice_is_refused(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id)
    assert claim is not None
    with unit_of_work(sessions) as session:
        complete_work_item(session, claim=claim, now=clock())
    with pytest.raises(LeaseLostError), unit_of_work(sessions) as session:
        complete_work_item(session, claim=claim, now=clock())


def test_racing_claims_let_exactly_one_worker_through(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    clock = FakeClock()
    item_ids = [_add(sessions, clock, key=f"race-{n}") for n in range(5)]
    barrier = threading.Barrier(4)
    wins: list[tuple[str, uuid.UUID]] = []
    lock = threading.Lock()

    def contend(worker: str) -> None:
        barrier.wait(timeout=10)
        for item_id in item_ids:
            claim = _claim(sessions, clock, item_id, worker=worker)
            if claim is not None:
                with lock:
                    wins.append((worker, item_id))

    threads = [threading.Thread(target=contend, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(item_id for _, item_id in wins) == sorted(item_ids)
    assert all(_item(sessions, item_id).attempts == 1 for item_id in item_ids)


def test_a_failed_attempt_waits_for_its_back_off(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id)
    assert claim is not None
    retry_at = clock() + dt.timedelta(seconds=20)
    with unit_of_work(sessions) as session:
        assert release_after_failure(
            session, claim=claim, error="RuntimeError", retry_at=retry_at, now=clock()
        )
    item = _item(sessions, item_id)
    assert (item.state, item.last_error, item.claimed_by, item.available_at) == (
        "pending",
        "RuntimeError",
        None,
        retry_at,
    )
    assert _claim(sessions, clock, item_id) is None
    clock.advance(dt.timedelta(seconds=20))
    retried = _claim(sessions, clock, item_id)
    assert retried is not None
    assert retried.attempt == 2


def test_a_final_failure_fails_the_item_and_a_stale_claim_changes_nothing(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id)
    assert claim is not None
    with unit_of_work(sessions) as session:
        assert release_after_failure(session, claim=claim, error="x" * 500, retry_at=None, now=clock())
        assert not release_after_failure(session, claim=claim, error="again", retry_at=None, now=clock())
    item = _item(sessions, item_id)
    assert item.state == WorkState.FAILED
    assert item.last_error == "x" * 200


def test_a_job_that_keeps_killing_its_worker_fails_after_its_last_attempt(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    item_id = _add(sessions, clock)
    for _ in range(2):
        assert _claim(sessions, clock, item_id, max_attempts=2) is not None
        clock.advance(LEASE)  # the worker died: its lease runs out
    assert _claim(sessions, clock, item_id, max_attempts=2) is None
    item = _item(sessions, item_id)
    assert (item.state, item.attempts, item.last_error) == ("failed", 2, LOST_WORKER_ERROR)


def test_renewing_a_lease_keeps_the_item(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id)
    assert claim is not None
    clock.advance(LEASE - dt.timedelta(seconds=1))
    with unit_of_work(sessions) as session:
        claim = renew_lease(session, claim=claim, lease=LEASE, now=clock())
    clock.advance(dt.timedelta(seconds=2))
    assert _claim(sessions, clock, item_id, worker="w2") is None
    clock.advance(LEASE)
    assert _claim(sessions, clock, item_id, worker="w2") is not None
    with pytest.raises(LeaseLostError), unit_of_work(sessions) as session:
        renew_lease(session, claim=claim, lease=LEASE, now=clock())


def test_the_sweep_finds_what_is_unfinished_and_when_it_is_due(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    start = clock()
    pending = _add(sessions, clock, key="pending")
    running = _add(sessions, clock, key="running")
    done = _add(sessions, clock, key="done")
    assert _claim(sessions, clock, running) is not None
    done_claim = _claim(sessions, clock, done)
    assert done_claim is not None
    with unit_of_work(sessions) as session:
        complete_work_item(session, claim=done_claim, now=clock())
        everything = find_unfinished_work(session, pending_before=None, running_before=None, limit=10)
        overdue_now = find_unfinished_work(session, pending_before=start, running_before=start, limit=10)
        overdue_later = find_unfinished_work(
            session, pending_before=start, running_before=start + LEASE, limit=10
        )
    assert {(due.item_id, due.due_at) for due in everything} == {(pending, start), (running, start + LEASE)}
    assert [due.item_id for due in overdue_now] == [pending]
    assert {due.item_id for due in overdue_later} == {pending, running}


def test_finished_work_is_deleted_after_it_is_old_enough(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    item_id = _add(sessions, clock)
    claim = _claim(sessions, clock, item_id)
    assert claim is not None
    with unit_of_work(sessions) as session:
        complete_work_item(session, claim=claim, now=clock())
    with unit_of_work(sessions) as session:
        assert delete_finished_work(session, completed_before=clock()) == 0
        assert delete_finished_work(session, completed_before=clock() + dt.timedelta(seconds=1)) == 1
