"""The hash chain: how an event's hash is computed, and how a chain is verified.

``hash = SHA-256(DOMAIN || canonical JSON)`` of every column but ``hash`` itself, with
``prev_hash`` the previous event's hash (32 zero bytes for seq 1). Canonical JSON: sorted keys,
no whitespace, ASCII only, and no floats anywhere (their text form is not canonical), so the
same event gives the same bytes on every engine and Python version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.audit.models import AuditEvent

GENESIS_HASH = bytes(32)
_DOMAIN = b"hushdesk.audit.event.v1\n"


@dataclass(frozen=True, slots=True)
class EventFields:
    """Everything an event's hash commits to."""

    chain: str
    seq: int
    id: uuid.UUID
    occurred_at: dt.datetime
    actor_kind: str
    actor_id: str | None
    action: str
    target_kind: str | None
    target_id: str | None
    data: Mapping[str, Any]
    prev_hash: bytes

    @classmethod
    def of(cls, event: AuditEvent) -> EventFields:
        return cls(
            chain=event.chain,
            seq=event.seq,
            id=event.id,
            occurred_at=event.occurred_at,
            actor_kind=event.actor_kind,
            actor_id=event.actor_id,
            action=event.action,
            target_kind=event.target_kind,
            target_id=event.target_id,
            data=event.data,
            prev_hash=event.prev_hash,
        )


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, ASCII; refuses NaN and infinities."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode()


def event_hash(fields: EventFields) -> bytes:
    document = {
        "chain": fields.chain,
        "seq": fields.seq,
        "id": str(fields.id),
        "occurred_at": fields.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_kind": fields.actor_kind,
        "actor_id": fields.actor_id,
        "action": fields.action,
        "target_kind": fields.target_kind,
        "target_id": fields.target_id,
        "data": dict(fields.data),
        "prev_hash": fields.prev_hash.hex(),
    }
    return hashlib.sha256(_DOMAIN + canonical_json(document)).digest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    chain: str
    seq: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of walking one chain. ``problem`` is None when the chain is intact; otherwise
    ``first_bad_seq`` (and ``first_bad_id`` when that event exists) name where it breaks."""

    chain: str
    events_checked: int
    head: ChainHead | None
    problem: str | None = None
    first_bad_seq: int | None = None
    first_bad_id: uuid.UUID | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(session: Session, chain: str, *, checkpoint: ChainHead | None = None) -> VerifyReport:
    """Walk ``chain`` in seq order and check every link: seq 1, 2, 3... without gaps, each
    ``prev_hash`` equal to the previous event's ``hash``, and each ``hash`` recomputed.

    That catches an edited event (hash mismatch), a deleted one (seq gap), and an inserted or
    reordered one (broken link). A chain rewritten with every hash recomputed, or cut short at
    the end, passes those checks; ``checkpoint`` (a head whose signature the caller has already
    verified) catches it: the chain must still hold that (seq, hash). Reads only; takes no lock.
    """
    query = select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    # Streamed (a server-side cursor on PostgreSQL), closed however the walk ends.
    rows = session.scalars(query.execution_options(yield_per=500))
    try:
        return _walk(chain, rows, checkpoint)
    finally:
        rows.close()


def _walk(chain: str, rows: Iterable[AuditEvent], checkpoint: ChainHead | None) -> VerifyReport:
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    head: ChainHead | None = None
    checkpoint_seen = False
    for event in rows:
        checked += 1
        problem = _link_problem(event, expected_seq, prev_hash)
        if problem is not None:
            return VerifyReport(chain, checked, head, problem, event.seq, event.id)
        if checkpoint is not None and event.seq == checkpoint.seq:
            checkpoint_seen = True
            if event.hash != checkpoint.hash:
                problem = "differs from the signed checkpoint: the chain up to here was rewritten"
                return VerifyReport(chain, checked, head, problem, event.seq, event.id)
        head = ChainHead(chain, event.seq, event.hash)
        expected_seq, prev_hash = event.seq + 1, event.hash
    if checkpoint is not None and not checkpoint_seen:
        problem = f"the chain ends before the signed checkpoint at seq {checkpoint.seq}: events were deleted"
        return VerifyReport(chain, checked, head, problem, expected_seq, None)
    return VerifyReport(chain, checked, head)


def _link_problem(event: AuditEvent, expected_seq: int, prev_hash: bytes) -> str | None:
    if event.seq != expected_seq:
        return f"seq gap: expected seq {expected_seq}: an event was deleted or renumbered"
    if event.prev_hash != prev_hash:
        return "prev_hash does not match the previous event: an event was inserted, deleted or moved"
    if event_hash(EventFields.of(event)) != event.hash:
        return "hash mismatch: the event was edited"
    return None
