"""The ``audit_event`` row: append-only, one hash chain per workspace and one for the instance.

``data`` holds a few identifiers and counts: never a secret, never customer text (a message, a
contact's name or address). The log is kept for longer than the data it describes, so anything
placed in it escapes erasure and encryption at rest.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, UUIDPrimaryKey

# The chain of instance-level security events (workspace_id NULL).
INSTANCE_CHAIN = "instance"


class ActorKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"
    OPERATOR = "operator"
    SYSTEM = "system"


def chain_for(workspace_id: uuid.UUID | None) -> str:
    """The chain name of a workspace's events, or of the instance's when ``workspace_id`` is None.

    A separate text column rather than ``(workspace_id, seq)``: a unique constraint treats every
    NULL as distinct, so the instance chain would get no uniqueness backstop at all."""
    return INSTANCE_CHAIN if workspace_id is None else str(workspace_id)


class AuditEvent(UUIDPrimaryKey, Base):
    """One recorded action. Rows are only ever inserted; ``hash`` commits to every other
    column and to the previous event's hash."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    chain: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int]
    # No foreign key: the log outlives a deleted workspace (a cascade would erase the record
    # of the deletion itself).
    workspace_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[dt.datetime]
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary())
    hash: Mapped[bytes] = mapped_column(LargeBinary())
