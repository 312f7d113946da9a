"""The widget's event stream (``GET /widget/v1/events``): server-sent events over a fetch()
response, so the session token travels in the Authorization header and never in a URL.

The stream sends the stored messages after ``?after=`` first, then whatever the event bus
says changed, re-read from the database each time (events carry ids only). Each database read
is its own short read-only transaction: an open stream holds no transaction and no lock. An
assistant reply is sent as ``delta`` pieces and then the whole ``message``; the reply was
released by the guardrails before it was stored, so no unchecked text is ever streamed.

The stream ends when the token expires (the frame reconnects with a fresh one), when the
session ends, or when the visitor goes away.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.channels.widget.sessions import WidgetTokenRefused, authenticate_visitor
from hushdesk.conversations.live import conversation_topic
from hushdesk.conversations.models import Author
from hushdesk.conversations.service import messages_after
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.events import EventBus
from hushdesk.web.authz import WIDGET
from hushdesk.web.db_gate import database_gate
from hushdesk.web.rate_limits import enforce
from hushdesk.web.widget_api import CALLS_PER_ADDRESS
from hushdesk.web.widget_wire import (
    bearer_token,
    client_address,
    messages_json,
    visitor_conversation,
    widget_session_topic,
)

router = APIRouter(prefix="/widget/v1")

KEEP_ALIVE_SECONDS = 15.0
DELTA_CHARS = 48
MAX_AFTER = 2**53


@dataclass(frozen=True, slots=True)
class _Read:
    """One look at the visitor's conversation: still allowed, which conversation, what is new."""

    open: bool
    widget_session_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    messages: list[dict[str, Any]]
    token_expires_at: dt.datetime


def _read(sessions: sessionmaker[Session], token: str, after: int) -> _Read:
    now = utcnow()
    with unit_of_work(sessions) as db:
        try:
            visitor = authenticate_visitor(db, token=token, now=now)
        except WidgetTokenRefused:
            return _Read(False, None, None, [], now)
        conversation = visitor_conversation(db, visitor)
        messages = (
            messages_json(db, messages_after(db, conversation, after_seq=after)) if conversation else []
        )
        return _Read(
            True,
            visitor.widget_session.id,
            conversation.id if conversation else None,
            messages,
            visitor.claims.expires_at,
        )


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _message_events(message: dict[str, Any]) -> list[bytes]:
    events = []
    if message["author"] == Author.ASSISTANT.value:
        text: str = message["text"]
        for start in range(0, len(text), DELTA_CHARS):
            events.append(
                _sse("delta", {"message_id": message["id"], "text": text[start : start + DELTA_CHARS]})
            )
    events.append(_sse("message", message))
    return events


@router.get("/events", dependencies=[WIDGET])
async def events(request: Request, after: int = Query(default=0, ge=0, le=MAX_AFTER)) -> StreamingResponse:
    """The visitor's conversation as it happens (see the module docstring)."""
    enforce(request, CALLS_PER_ADDRESS, client_address(request))
    token = bearer_token(request)
    sessions: sessionmaker[Session] = request.app.state.read_sessions
    gate = database_gate(request)
    first = await gate.run(_read, sessions, token, after)
    if not first.open or first.widget_session_id is None:
        raise WidgetTokenRefused()
    bus: EventBus = request.app.state.events
    widget_session = first.widget_session_id

    async def stream() -> AsyncIterator[bytes]:
        last = after
        current = first
        while current.open:
            topics = [widget_session_topic(widget_session)]
            if current.conversation_id is not None:
                topics.append(conversation_topic(current.conversation_id))
            async with bus.subscribe(topics) as subscription:
                # Read again once subscribed: nothing written between the first read and the
                # subscription is missed.
                current = await gate.run(_read, sessions, token, last)
                for message in current.messages:
                    last = max(last, int(message["seq"]))
                    for chunk in _message_events(message):
                        yield chunk
                # The conversation may have begun between the two reads: listen to it too.
                resubscribe = current.conversation_id is not None and len(topics) == 1
                while current.open and not resubscribe:
                    if await request.is_disconnected() or utcnow() >= current.token_expires_at:
                        return
                    event = await subscription.next(timeout=KEEP_ALIVE_SECONDS)
                    if event is None:
                        yield b": keep-alive\n\n"
                        continue
                    kind = event.data.get("kind")
                    if kind == "status" and not event.resync:
                        yield _sse(
                            "status", {"state": event.data.get("state"), "text": event.data.get("notice")}
                        )
                        continue
                    current = await gate.run(_read, sessions, token, last)
                    for message in current.messages:
                        last = max(last, int(message["seq"]))
                        for chunk in _message_events(message):
                            yield chunk
                    if current.conversation_id is not None and len(topics) == 1:
                        resubscribe = True

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
