"""The statements that make delivery safe: add, claim, complete, release, renew, sweep.

Every function works in the caller's session and never commits. Their guarantees rest on one
rule: a row changes state only through a single ``UPDATE ... WHERE <expected state>``. On
PostgreSQL two such updates of one row serialise on its row lock and the second re-checks its
``WHERE`` against the first one's committed result; on SQLite every transaction starts with
``BEGIN IMMEDIATE``, so writers run one at a time. Either way, of two workers racing for the
same item, exactly one wins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, CursorResult, Result, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hushdesk.infra.ids import uuid7
from hushdesk.infra.jobs.models import JsonScalar, WorkItem, WorkState, check_payload

_NO_SYNC = {"synchronize_session": False}
LOST_WORKER_ERROR = "worker lost: the lease expired after the last attempt"


@dataclass(frozen=True, slots=True)
class Claim:
    """A worker's hold on one item, valid while the row still shows this attempt as running."""

    item_id: uuid.UUID
    kind: str
    payload: Mapping[str, JsonScalar]
    workspace_id: uuid.UUID | None
    attempt: int
    claimed_by: str
    lease_expires_at: dt.datetime


class DueWork(NamedTuple):
    item_id: uuid.UUID
    due_at: dt.datetime


class LeaseLostError(Exception):
    """The claim no longer holds its item: the lease expired and another worker claimed it, or
    the item is no longer running. The transaction that noticed must roll back."""


def add_work_item(
    session: Session,
    *,
    kind: str,
    idempotency_key: str,
    payload: Mapping[str, object],
    workspace_id: uuid.UUID | None = None,
    now: dt.datetime,
    available_at: dt.datetime | None = None,
) -> tuple[uuid.UUID, bool]:
    """Insert a pending item unless one with this ``kind`` and ``idempotency_key`` exists.

    It may run from ``available_at`` (default ``now``). Returns ``(id, created)``.
    Idempotent: a repeated call returns the existing item's id and ``False``, whatever that
    item's state. A concurrent insert of the same key waits on the
    unique index for the other transaction, then yields to it. Raises ``InvalidPayloadError``
    for a payload that is not ids only.
    """
    checked = check_payload(payload)
    item_id = uuid7()
    values: dict[str, Any] = {
        "id": item_id,
        "kind": kind,
        "idempotency_key": idempotency_key,
        "payload": checked,
        "state": WorkState.PENDING.value,
        "attempts": 0,
        "available_at": available_at or now,
        "workspace_id": workspace_id,
        "created_at": now,
        "updated_at": now,
    }
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(WorkItem)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["kind", "idempotency_key"])
        .returning(WorkItem.id)
    )
    if session.execute(statement).scalar_one_or_none() is not None:
        return item_id, True
    existing = session.scalar(
        select(WorkItem.id).where(WorkItem.kind == kind, WorkItem.idempotency_key == idempotency_key)
    )
    assert existing is not None, "the conflicting row is visible once its transaction committed"
    return existing, False


def claim_work_item(
    session: Session,
    *,
    item_id: uuid.UUID,
    worker: str,
    lease: dt.timedelta,
    max_attempts: int,
    now: dt.datetime,
) -> Claim | None:
    """Take ``item_id`` for ``worker`` until ``now + lease``, counting one more attempt.

    Claimable: pending and available, or running with an expired lease (its worker is presumed
    dead). Returns None when the item is missing, done, failed, waiting for its back-off or held
    by a live lease. An item that is claimable but has used ``max_attempts`` is marked failed
    instead, so a job that kills its worker every time stops being retried.
    """
    session.execute(
        update(WorkItem)
        .where(WorkItem.id == item_id, _claimable(now), WorkItem.attempts >= max_attempts)
        .values(
            state=WorkState.FAILED.value,
            last_error=LOST_WORKER_ERROR,
            lease_expires_at=None,
            claimed_by=None,
            updated_at=now,
        )
        .execution_options(**_NO_SYNC)
    )
    lease_expires_at = now + lease
    row = session.execute(
        update(WorkItem)
        .where(WorkItem.id == item_id, _claimable(now), WorkItem.attempts < max_attempts)
        .values(
            state=WorkState.RUNNING.value,
            attempts=WorkItem.attempts + 1,
            claimed_by=worker,
            lease_expires_at=lease_expires_at,
            updated_at=now,
        )
        .returning(WorkItem.kind, WorkItem.payload, WorkItem.workspace_id, WorkItem.attempts)
        .execution_options(**_NO_SYNC)
    ).one_or_none()
    if row is None:
        return None
    return Claim(
        item_id=item_id,
        kind=row.kind,
        payload=dict(row.payload),
        workspace_id=row.workspace_id,
        attempt=row.attempts,
        claimed_by=worker,
        lease_expires_at=lease_expires_at,
    )


def complete_work_item(session: Session, *, claim: Claim, now: dt.datetime) -> None:
    """Mark the claimed item done. Call it in the transaction that writes the work's effect:
    both commit together or neither does.

    Raises ``LeaseLostError`` when another attempt has claimed the item since (the caller must
    roll back, so the effect is not written twice). A lease that expired without anyone
    claiming the item again still completes: nobody else has done the work.
    """
    updated = session.execute(
        update(WorkItem)
        .where(_held_by(claim))
        .values(
            state=WorkState.DONE.value,
            completed_at=now,
            lease_expires_at=None,
            last_error=None,
            updated_at=now,
        )
        .returning(WorkItem.id)
        .execution_options(**_NO_SYNC)
    ).scalar_one_or_none()
    if updated is None:
        raise LeaseLostError(f"work item {claim.item_id} is no longer held by attempt {claim.attempt}")


def release_after_failure(
    session: Session, *, claim: Claim, error: str, retry_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """Record a failed attempt: back to pending until ``retry_at``, or failed for good when
    ``retry_at`` is None. ``error`` is stored cut to 200 characters; pass a class name or a
    message known to hold no customer data. Returns False (and changes nothing) when the claim
    no longer holds the item."""
    values: dict[str, Any] = {
        "last_error": error[:200],
        "lease_expires_at": None,
        "claimed_by": None,
        "updated_at": now,
    }
    if retry_at is None:
        values["state"] = WorkState.FAILED.value
    else:
        values |= {"state": WorkState.PENDING.value, "available_at": retry_at}
    released = session.execute(
        update(WorkItem)
        .where(_held_by(claim))
        .values(**values)
        .returning(WorkItem.id)
        .execution_options(**_NO_SYNC)
    ).scalar_one_or_none()
    return released is not None


def renew_lease(session: Session, *, claim: Claim, lease: dt.timedelta, now: dt.datetime) -> Claim:
    """Extend the claim's lease to ``now + lease`` (for a job that may outlast one lease).

    Raises ``LeaseLostError`` when the claim no longer holds the item."""
    lease_expires_at = now + lease
    renewed = session.execute(
        update(WorkItem)
        .where(_held_by(claim))
        .values(lease_expires_at=lease_expires_at, updated_at=now)
        .returning(WorkItem.id)
        .execution_options(**_NO_SYNC)
    ).scalar_one_or_none()
    if renewed is None:
        raise LeaseLostError(f"work item {claim.item_id} is no longer held by attempt {claim.attempt}")
    return dataclasses.replace(claim, lease_expires_at=lease_expires_at)


def find_unfinished_work(
    session: Session,
    *,
    pending_before: dt.datetime | None,
    running_before: dt.datetime | None,
    limit: int,
) -> list[DueWork]:
    """Unfinished items and when each may next be claimed, oldest first: pending items
    available by ``pending_before`` and running items whose lease ends by ``running_before``
    (None: no bound). Read-only; locks nothing."""
    pending = WorkItem.state == WorkState.PENDING.value
    if pending_before is not None:
        pending = and_(pending, WorkItem.available_at <= pending_before)
    running = WorkItem.state == WorkState.RUNNING.value
    if running_before is not None:
        running = and_(running, WorkItem.lease_expires_at <= running_before)
    rows = session.execute(
        select(WorkItem.id, WorkItem.state, WorkItem.available_at, WorkItem.lease_expires_at)
        .where(or_(pending, running))
        .order_by(WorkItem.available_at, WorkItem.id)
        .limit(limit)
    )
    due: list[DueWork] = []
    for row in rows:
        due_at = row.lease_expires_at if row.state == WorkState.RUNNING.value else row.available_at
        due.append(DueWork(row.id, due_at or row.available_at))
    return due


def delete_finished_work(session: Session, *, completed_before: dt.datetime) -> int:
    """Delete done items completed before ``completed_before``; returns how many. Failed items
    stay for an operator to see."""
    result = session.execute(
        delete(WorkItem)
        .where(WorkItem.state == WorkState.DONE.value, WorkItem.completed_at < completed_before)
        .execution_options(**_NO_SYNC)
    )
    return rowcount(result)


def rowcount(result: Result[Any]) -> int:
    """Rows matched by a bulk UPDATE or DELETE."""
    assert isinstance(result, CursorResult)
    return result.rowcount


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        and_(WorkItem.state == WorkState.PENDING.value, WorkItem.available_at <= now),
        and_(WorkItem.state == WorkState.RUNNING.value, WorkItem.lease_expires_at <= now),
    )


def _held_by(claim: Claim) -> ColumnElement[bool]:
    return and_(
        WorkItem.id == claim.item_id,
        WorkItem.state == WorkState.RUNNING.value,
        WorkItem.attempts == claim.attempt,
        WorkItem.claimed_by == claim.claimed_by,
    )
