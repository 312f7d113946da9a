"""Reading one workspace's audit chain: filtered pages for the dashboard and bounded batches
for export (the REST API can reuse both).

Every function here takes the workspace id and reads that workspace's chain only (the chain
name and the ``workspace_id`` column both have to match); the instance chain and other
workspaces' chains are never reachable through it. Nothing here writes: recording that an
export happened is the caller's job, in a write transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.audit.chain import canonical_json
from hushdesk.audit.models import AuditEvent, chain_for
from hushdesk.infra.db.uow import unit_of_work

PAGE_SIZE = 50
EXPORT_BATCH_SIZE = 500
# seq is a signed 64-bit integer on PostgreSQL; a larger cursor could not be bound at all.
MAX_SEQ = 2**63 - 1
# Whole actions ("auth.login") or prefixes that end in a dot ("auth.", also written "auth.*").
_ACTION_FILTER = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.?$")
_MAX_ACTION_LENGTH = 64


class InvalidAuditFilterError(ValueError):
    """A filter that cannot be applied; the message says why, for the person who typed it."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read. Build it with ``check_audit_filter``; every field is optional.

    ``action`` is matched exactly, or as a prefix when ``action_is_prefix``. ``occurred_from``
    is inclusive and ``occurred_before`` exclusive (both UTC)."""

    actor_id: str | None = None
    action: str | None = None
    action_is_prefix: bool = False
    from_date: dt.date | None = None
    to_date: dt.date | None = None

    @property
    def occurred_from(self) -> dt.datetime | None:
        if self.from_date is None:
            return None
        return dt.datetime.combine(self.from_date, dt.time(), tzinfo=dt.UTC)

    @property
    def occurred_before(self) -> dt.datetime | None:
        """Midnight UTC after ``to_date``: the whole "to" day is included."""
        if self.to_date is None or self.to_date == dt.date.max:
            return None
        return dt.datetime.combine(self.to_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def as_audit_data(self) -> dict[str, str | None]:
        """The filter as the flat mapping an ``audit.exported`` event records."""
        return {
            "actor_id": self.actor_id,
            "action": (self.action + "*") if self.action and self.action_is_prefix else self.action,
            "from": self.from_date.isoformat() if self.from_date else None,
            "to": self.to_date.isoformat() if self.to_date else None,
        }


def check_audit_filter(
    *,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    from_date: dt.date | None = None,
    to_date: dt.date | None = None,
) -> AuditFilter:
    """Validate a filter. ``action`` is an action ("auth.login") or a prefix ending in "." or
    ".*" ("auth." and "auth.*" both match every ``auth.`` action). Raises
    ``InvalidAuditFilterError`` for a malformed action or a "from" date after the "to" date."""
    is_prefix = False
    if action:
        if action.endswith(".*"):
            action = action[:-1]
        if len(action) > _MAX_ACTION_LENGTH or not _ACTION_FILTER.match(action):
            raise InvalidAuditFilterError(
                'An action looks like "auth.login", or "auth." for every action that starts so.'
            )
        is_prefix = action.endswith(".")
    if from_date is not None and to_date is not None and from_date > to_date:
        raise InvalidAuditFilterError('The "from" date is after the "to" date.')
    return AuditFilter(
        actor_id=str(actor_id) if actor_id is not None else None,
        action=action or None,
        action_is_prefix=is_prefix,
        from_date=from_date,
        to_date=to_date,
    )


def check_cursor(before: int) -> int:
    """A page cursor (the seq the next page starts below). Raises ``InvalidAuditFilterError``."""
    if not 1 <= before <= MAX_SEQ:
        raise InvalidAuditFilterError("That page link is not valid; start again from the newest events.")
    return before


@dataclass(frozen=True, slots=True)
class EventPage:
    """Events newest first. ``next_before`` is the cursor of the next (older) page, or None
    when this page is the last."""

    events: list[AuditEvent]
    next_before: int | None


def list_workspace_events(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    filters: AuditFilter,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> EventPage:
    """One page of the workspace's events matching ``filters``, newest (highest seq) first,
    keyset-paginated by seq: ``before`` starts the page below that seq. Reads only; a page is
    stable while new events arrive, because new events only ever get higher seqs."""
    query = _matching(workspace_id, filters)
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    rows = list(session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)))
    more = len(rows) > limit
    events = rows[:limit]
    return EventPage(events=events, next_before=events[-1].seq if more and events else None)


@dataclass(frozen=True, slots=True)
class ExportSnapshot:
    """What an export will contain: the matching events with ``seq <= through_seq`` (the
    chain's head when the export began), ``count`` of them."""

    workspace_id: uuid.UUID
    filters: AuditFilter
    through_seq: int
    count: int


def plan_export(session: Session, *, workspace_id: uuid.UUID, filters: AuditFilter) -> ExportSnapshot:
    """Fix the export's extent at the chain's current head and count what it will hold. Events
    are never updated or deleted and new ones only get higher seqs, so the batches read later,
    each in a transaction of its own, return exactly these events. Reads only."""
    chain = chain_for(workspace_id)
    head = session.scalar(
        select(func.max(AuditEvent.seq)).where(
            AuditEvent.chain == chain, AuditEvent.workspace_id == workspace_id
        )
    )
    through_seq = head or 0
    count = session.scalar(
        _matching(workspace_id, filters)
        .where(AuditEvent.seq <= through_seq)
        .with_only_columns(func.count())
        .order_by(None)
    )
    return ExportSnapshot(
        workspace_id=workspace_id, filters=filters, through_seq=through_seq, count=count or 0
    )


def export_record(event: AuditEvent) -> dict[str, Any]:
    """One exported event: every field its hash commits to, in the form the hash uses
    (``occurred_at`` in UTC with microseconds, hashes in hex), plus the hash itself, so that
    the chain can be re-verified offline with ``hushdesk.audit.chain.event_hash``."""
    return {
        "chain": event.chain,
        "seq": event.seq,
        "id": str(event.id),
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_kind": event.target_kind,
        "target_id": event.target_id,
        "data": dict(event.data),
        "prev_hash": event.prev_hash.hex(),
        "hash": event.hash.hex(),
    }


def iter_export_lines(
    sessions: sessionmaker[Session], snapshot: ExportSnapshot, *, batch_size: int = EXPORT_BATCH_SIZE
) -> Iterator[bytes]:
    """The snapshot's events in chain order (ascending seq) as JSON lines, one chunk of at most
    ``batch_size`` lines per batch.

    Each batch is read in its own short transaction from ``sessions`` (a read-only
    sessionmaker), keyset-paginated on seq, and the transaction has ended before the chunk is
    yielded: however slowly the client reads, no transaction or connection is held between
    batches, and memory stays at one batch. Consistent with ``plan_export`` for the reason
    given there."""
    after = 0
    while after < snapshot.through_seq:
        with unit_of_work(sessions) as session:
            batch = list(
                session.scalars(
                    _matching(snapshot.workspace_id, snapshot.filters)
                    .where(AuditEvent.seq > after, AuditEvent.seq <= snapshot.through_seq)
                    .order_by(AuditEvent.seq)
                    .limit(batch_size)
                )
            )
            chunk = b"".join(canonical_json(export_record(event)) + b"\n" for event in batch)
        if batch:
            yield chunk
        if len(batch) < batch_size:
            return
        after = batch[-1].seq


def _matching(workspace_id: uuid.UUID, filters: AuditFilter) -> Select[AuditEvent]:
    conditions: list[ColumnElement[bool]] = [
        AuditEvent.chain == chain_for(workspace_id),
        AuditEvent.workspace_id == workspace_id,
    ]
    if filters.actor_id is not None:
        conditions.append(AuditEvent.actor_id == filters.actor_id)
    if filters.action is not None:
        conditions.append(
            # autoescape: "_" and "%" in an action are literal, not LIKE wildcards.
            AuditEvent.action.startswith(filters.action, autoescape=True)
            if filters.action_is_prefix
            else AuditEvent.action == filters.action
        )
    if (start := filters.occurred_from) is not None:
        conditions.append(AuditEvent.occurred_at >= start)
    if (end := filters.occurred_before) is not None:
        conditions.append(AuditEvent.occurred_at < end)
    return select(AuditEvent).where(*conditions)
