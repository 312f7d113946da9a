"""What the widget API reads from requests and writes into its JSON, shared by its routes and
its event stream."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.channels.widget.sessions import Visitor, WidgetTokenRefused
from hushdesk.conversations.live import publish_after_commit
from hushdesk.conversations.models import Attachment, Conversation, Message
from hushdesk.conversations.service import find_open_conversation
from hushdesk.infra.events import EventBus

MAX_BEARER_CHARS = 1024


def bearer_token(request: Request) -> str:
    """The session token of ``Authorization: Bearer``. Raises ``WidgetTokenRefused``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or len(token) > MAX_BEARER_CHARS:
        raise WidgetTokenRefused()
    return token.strip()


def client_address(request: Request) -> str:
    """The client's address: the peer, or what a trusted proxy said it was (the proxy-headers
    middleware only believes the configured proxies)."""
    return request.client.host if request.client else "unknown"


def widget_session_topic(widget_session_id: uuid.UUID) -> str:
    return f"widget.{widget_session_id}"


@dataclass(frozen=True, slots=True)
class ConversationLookup:
    """Which conversations a visitor sees: a verified customer their latest open one with the
    agent (from any session); an anonymous visitor only the one of this widget session."""

    widget_session_id: uuid.UUID | None
    session_id: uuid.UUID

    @classmethod
    def of(cls, visitor: Visitor) -> ConversationLookup:
        row = visitor.widget_session
        return cls(widget_session_id=None if row.verified else row.id, session_id=row.id)

    def announce(self, db: Session, bus: EventBus, conversation: Conversation) -> None:
        """Tell this session's event stream that its conversation now exists."""
        publish_after_commit(
            db,
            bus,
            widget_session_topic(self.session_id),
            {"kind": "conversation", "id": str(conversation.id)},
        )


def visitor_conversation(db: Session, visitor: Visitor) -> Conversation | None:
    if visitor.widget_session.contact_id is None:
        return None
    return find_open_conversation(
        db,
        workspace_id=visitor.agent.workspace_id,
        agent_id=visitor.agent.id,
        contact_id=visitor.widget_session.contact_id,
        widget_session_id=ConversationLookup.of(visitor).widget_session_id,
    )


def conversation_json(conversation: Conversation | None) -> dict[str, Any] | None:
    if conversation is None:
        return None
    return {"id": str(conversation.id), "status": conversation.status}


def message_json(message: Message, *, attachment: Attachment | None) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "seq": message.seq,
        "author": message.author,
        "text": message.body,
        "created_at": message.created_at.isoformat(),
        "citations": [
            {"title": str(item.get("title", "")), "source": str(item.get("source", ""))}
            for item in (message.citations or [])
        ],
        "attachment": None
        if attachment is None
        else {
            "name": attachment.file_name,
            "media_type": attachment.media_type,
            "size": attachment.byte_size,
        },
    }


def messages_json(db: Session, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The messages as JSON, with their attachments (one query)."""
    ids = [message.id for message in messages]
    attachments: dict[uuid.UUID, Attachment] = {}
    if ids:
        for attachment in db.scalars(select(Attachment).where(Attachment.message_id.in_(ids))):
            attachments[attachment.message_id] = attachment
    return [message_json(message, attachment=attachments.get(message.id)) for message in messages]
