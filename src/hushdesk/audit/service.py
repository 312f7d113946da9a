"""Recording audit events at the point of change."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hushdesk.audit.chain import GENESIS_HASH, EventFields, canonical_json, event_hash
from hushdesk.audit.models import ActorKind, AuditEvent, chain_for
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.ids import uuid7

# "resource.verb" or deeper: keys.rotate_master, auth.login_failed.
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
# Identifiers and counts, not documents: the log keeps it for longer than the data it describes.
MAX_DATA_BYTES = 2048
DataValue = str | int | bool | None


class InvalidAuditEventError(ValueError):
    """An event that may not be recorded as given (the message says which field)."""


def do_record_event(
    session: Session,
    *,
    workspace_id: uuid.UUID | None,
    actor_kind: ActorKind,
    actor_id: str | None,
    action: str,
    target_kind: str | None = None,
    target_id: str | None = None,
    data: Mapping[str, DataValue] | None = None,
) -> AuditEvent:
    """Append an event to the workspace's chain (the instance chain when ``workspace_id`` is
    None) in the caller's transaction: it flushes, never commits, so the event commits or rolls
    back with the change it records.

    ``data`` is a flat mapping of identifiers and counts: never a secret, never customer text.
    Raises ``InvalidAuditEventError`` for a malformed action, actor kind or data.

    Locks: on PostgreSQL a transaction-level advisory lock on the chain, held until the caller's
    transaction ends, so two transactions cannot both read the same head and fork the chain. On
    SQLite every writing transaction already holds the database write lock (BEGIN IMMEDIATE).
    The unique (chain, seq) constraint is the backstop for both.
    """
    _check(actor_kind=actor_kind, action=action, data=data)
    chain = chain_for(workspace_id)
    _lock_chain(session, chain)
    head = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (head.seq + 1, head.hash) if head is not None else (1, GENESIS_HASH)
    fields = EventFields(
        chain=chain,
        seq=seq,
        id=uuid7(),
        occurred_at=utcnow(),
        actor_kind=actor_kind.value,
        actor_id=actor_id,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        data=dict(data or {}),
        prev_hash=prev_hash,
    )
    event = AuditEvent(
        id=fields.id,
        chain=chain,
        seq=seq,
        workspace_id=workspace_id,
        occurred_at=fields.occurred_at,
        actor_kind=fields.actor_kind,
        actor_id=actor_id,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        data=dict(fields.data),
        prev_hash=prev_hash,
        hash=event_hash(fields),
    )
    session.add(event)
    session.flush()
    return event


def chain_lock_key(chain: str) -> int:
    """A signed 64-bit advisory-lock key for ``chain``, namespaced so that it cannot collide
    with another feature's keys by accident (``hashtext`` is only 32 bits)."""
    digest = hashlib.sha256(b"hushdesk.audit.chain:" + chain.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_chain(session: Session, chain: str) -> None:
    if session.connection().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": chain_lock_key(chain)})


def _check(*, actor_kind: ActorKind, action: str, data: Mapping[str, DataValue] | None) -> None:
    if not isinstance(actor_kind, ActorKind):
        raise InvalidAuditEventError(f"actor_kind must be one of {[kind.value for kind in ActorKind]}")
    if len(action) > 64 or not _ACTION.match(action):
        raise InvalidAuditEventError(
            "action must look like resource.verb (lower case, at most 64 characters)"
        )
    for key, value in (data or {}).items():
        # bool is an int; float is refused because its text form is not canonical.
        if (
            not isinstance(key, str)
            or not isinstance(value, str | int | bool | None)
            or isinstance(value, float)
        ):
            raise InvalidAuditEventError("data must map text keys to text, integers, booleans or None")
    if len(canonical_json(dict(data or {}))) > MAX_DATA_BYTES:
        raise InvalidAuditEventError(
            f"data is larger than {MAX_DATA_BYTES} bytes: record identifiers, not documents"
        )
