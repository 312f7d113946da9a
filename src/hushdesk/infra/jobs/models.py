"""The ``work_item`` table: the source of truth for work that must happen.

A row is written in the same transaction as the change that makes the work necessary; the queue
only carries the row's id. What the row holds is ids, never secrets or customer text: the
payload is checked by ``check_payload``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow

# Payload values are ids and small flags: a UUID, a slug-like token or a number. Anything with
# spaces or longer than this is refused, so free text cannot slip into the queue's tables.
_ID_LIKE = re.compile(r"[A-Za-z0-9_.:@+-]{1,100}")
MAX_PAYLOAD_KEYS = 16

JsonScalar = str | int | bool | None


class WorkState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class InvalidPayloadError(ValueError):
    """A payload value that is not an id, a number, a flag or null."""


class WorkItem(UUIDPrimaryKey, CreatedAt, Base):
    """One unit of background work.

    - ``pending``: may run from ``available_at`` on (a retry waits there for its back-off).
    - ``running``: claimed by ``claimed_by`` until ``lease_expires_at``; after that another
      worker may claim it again (its worker is presumed dead).
    - ``done``: marked in the same transaction as the work's database effect.
    - ``failed``: out of attempts, or failed permanently; ``last_error`` says why, briefly.

    ``attempts`` counts claims; it doubles as the fencing token that a completion must match.
    """

    __tablename__ = "work_item"
    __table_args__ = (
        UniqueConstraint("kind", "idempotency_key"),
        Index("ix_work_item_state_available_at", "state", "available_at"),
        CheckConstraint("state IN ('pending', 'running', 'done', 'failed')", name="state"),
    )

    kind: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default=WorkState.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_expires_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(String(200))
    # No foreign key: work may outlive its workspace (erasure is itself work).
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None]


def check_payload(payload: Mapping[str, object]) -> dict[str, JsonScalar]:
    """A copy of ``payload`` if every value is an id-like string, an int, a bool or None.

    Raises ``InvalidPayloadError`` otherwise: the payload is stored in plaintext and travels
    through the queue, so it carries references, never content.
    """
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise InvalidPayloadError(f"a payload holds at most {MAX_PAYLOAD_KEYS} keys")
    checked: dict[str, JsonScalar] = {}
    for key, value in payload.items():
        if not _ID_LIKE.fullmatch(key):
            raise InvalidPayloadError("a payload key is not a plain name")
        checked[key] = _checked_value(key, value)
    return checked


def _checked_value(key: str, value: object) -> JsonScalar:
    if isinstance(value, uuid.UUID):
        return str(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str) and _ID_LIKE.fullmatch(value):
        return value
    raise InvalidPayloadError(f"payload value for {key!r} is not an id, a number or a flag")
