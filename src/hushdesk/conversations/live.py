"""Live updates of conversations: the topics, and publishing once the change has committed.

Events name what changed (a conversation, a message's sequence number, a status) and never
carry what anyone wrote: a subscriber re-reads the database, through the same access rules as
any other read. So an event bus that drops or delays an event delays a screen update; it
cannot lose a message or show one to the wrong person.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from hushdesk.infra.db.outcome import on_outcome
from hushdesk.infra.events import EventBus, Payload


def conversation_topic(conversation_id: uuid.UUID) -> str:
    return f"conversation.{conversation_id}"


def inbox_topic(workspace_id: uuid.UUID) -> str:
    return f"inbox.{workspace_id}"


def publish_after_commit(session: Session, bus: EventBus, topic: str, data: Payload) -> None:
    """Publish ``data`` on ``topic`` once the session's transaction commits (never if it rolls
    back: nobody is told about a message that was not stored)."""
    on_outcome(session, committed=lambda: bus.publish(topic, data))


def message_event(*, message_id: uuid.UUID, seq: int) -> dict[str, str | int | bool | None]:
    return {"kind": "message", "message_id": str(message_id), "seq": seq}


def status_event(state: str, *, notice: str | None = None) -> dict[str, str | int | bool | None]:
    """A change the widget shows without a stored message: ``typing``, ``delayed`` (with a
    short notice of our own), ``handed_off``, ``bot``, ``resolved``."""
    return {"kind": "status", "state": state, "notice": notice}


def inbox_event(
    *, conversation_id: uuid.UUID, agent_id: uuid.UUID, status: str
) -> dict[str, str | int | bool | None]:
    return {
        "kind": "conversation",
        "conversation_id": str(conversation_id),
        "agent_id": str(agent_id),
        "status": status,
    }
