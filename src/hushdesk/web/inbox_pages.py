"""The hand-off inbox and the conversation pages, live across server processes.

Reading. ``/inbox`` lists conversation metadata (no audit event). A conversation's page, its
transcript fragment and its attachments are transcript reads, audited by
``hushdesk.conversations.inbox`` unless the reader is the support person answering it. Page
views run in a read-only transaction, so the read and its audit event run together in a short
writing transaction of their own, after the request's read-only one has found the conversation
(a probe for someone else's id takes no write lock and writes nothing).

Acting. Replying, taking, resolving and handing back are ``conversation:reply`` forms carrying
the session's CSRF token; each answers with a 303 to the conversation.

Live updates. ``/inbox/events`` and ``/conversations/{id}/events`` are server-sent events read
by ``/static/inbox.js`` (fetch with the session cookie, same origin). They carry only which
conversation changed; the page then fetches its fragment again, through the same access rules
and audit as any other read. The request's own transaction is ended before the stream starts,
and each database look during the stream is its own short read-only transaction, so an open
stream holds no transaction and no lock. Every ``KEEP_ALIVE_SECONDS`` the stream looks the
session cookie up again, as ``hushdesk.web.deps`` does, and ends when the session has ended
(signed out, idle or absolute timeout, role changed) or the viewer may no longer reach what
it watches; the script then reconnects and is refused. The stream itself is not activity:
it never resets the session's idle clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_id
from hushdesk.conversations.attachment_store import attachment_binding
from hushdesk.conversations.inbox import (
    access_conversation_by_id,
    attachments_by_message,
    check_status_filter,
    do_hand_back_conversation,
    do_reply,
    do_resolve_conversation,
    do_take,
    list_inbox,
    read_attachment,
    read_transcript,
    team_names,
)
from hushdesk.conversations.live import conversation_topic, inbox_topic
from hushdesk.conversations.models import ConversationStatus
from hushdesk.conversations.service import MAX_MESSAGE_CHARS
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.errors import KeyUnavailableError
from hushdesk.crypto.files import DecryptingReader, EncryptedFileStore, StoredFileNotFoundError
from hushdesk.crypto.keyring import Keyring
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import Principal
from hushdesk.identity.sessions import SignedIn, access_session
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound, Unauthenticated
from hushdesk.infra.events import Event, EventBus, SubscriptionClosed
from hushdesk.web.authz import requires
from hushdesk.web.db_gate import database_gate
from hushdesk.web.deps import (
    AppSettings,
    CurrentUser,
    DbSession,
    Templates,
    end_request_transaction,
    session_secret,
)
from hushdesk.web.origin import check_csrf

router = APIRouter()

KEEP_ALIVE_SECONDS = 15.0
STATUS_FILTER_LABELS = (
    ("handed_off", "Waiting for a person"),
    ("bot", "With the agent"),
    ("resolved", "Resolved"),
    ("all", "All"),
)
STATUS_LABELS = {
    ConversationStatus.HANDED_OFF.value: "With the team",
    ConversationStatus.BOT.value: "With the agent",
    ConversationStatus.RESOLVED.value: "Resolved",
}
# The status events the conversation page reloads for: who has the conversation changed.
HANDS = frozenset(status.value for status in ConversationStatus)
CsrfField = Annotated[str, Form(max_length=128)]
# Above the service's own limit, so that the service answers a long reply with its message.
ReplyField = Annotated[str, Form(max_length=4 * MAX_MESSAGE_CHARS)]
StatusQuery = Annotated[str | None, Query(max_length=16)]
_STREAM_HEADERS = {"cache-control": "no-store", "x-accel-buffering": "no"}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")

READ = requires(Permission.CONVERSATION_READ)
REPLY = requires(Permission.CONVERSATION_REPLY)


# ---- the inbox ----------------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse, dependencies=[READ])
def inbox(
    request: Request, db: DbSession, user: CurrentUser, templates: Templates, status: StatusQuery = None
) -> Response:
    """The conversations of the viewer's agents, newest activity first (metadata only)."""
    return templates.TemplateResponse(request, "inbox.html", _inbox_context(db, user, status))


@router.get("/inbox/rows", response_class=HTMLResponse, dependencies=[READ])
def inbox_rows(
    request: Request, db: DbSession, user: CurrentUser, templates: Templates, status: StatusQuery = None
) -> Response:
    """The inbox table's ``<tbody>`` alone, which the page's script swaps in on an event."""
    return _fragment(templates, "inbox.html", "inbox_rows", _inbox_context(db, user, status))


def _inbox_context(db: Session, user: SignedIn, status: str | None) -> dict[str, Any]:
    chosen = check_status_filter(status)
    return {
        "user": user,
        "rows": list_inbox(db, user.principal, status=chosen),
        "status": chosen,
        "filters": STATUS_FILTER_LABELS,
        "status_labels": STATUS_LABELS,
    }


@router.get("/inbox/events", dependencies=[READ])
async def inbox_events(request: Request, db: DbSession, user: CurrentUser) -> StreamingResponse:
    """Server-sent events: ``event: conversation`` with ``{"conversation_id", "status"}`` when
    a conversation of an agent the viewer may reach changes; ``event: resync`` when the bus
    lost events (reload everything); a keep-alive comment every ``KEEP_ALIVE_SECONDS``."""
    secret = _stream_secret(request)
    await run_in_threadpool(end_request_transaction, db)
    sessions: sessionmaker[Session] = request.app.state.read_sessions

    async def translate(principal: Principal, event: Event) -> bytes | None:
        agent_id = _uuid_or_none(event.data.get("agent_id"))
        if agent_id is None or event.data.get("kind") != "conversation":
            return None
        if not await database_gate(request).run(_may_reach_agent, sessions, principal, agent_id):
            return None
        return _sse(
            "conversation",
            {"conversation_id": event.data.get("conversation_id"), "status": event.data.get("status")},
        )

    return StreamingResponse(
        _stream(
            request,
            topic=inbox_topic(user.workspace.id),
            secret=secret,
            principal=user.principal,
            still_allowed=lambda _db, _principal: None,
            translate=translate,
        ),
        media_type="text/event-stream",
        headers=_STREAM_HEADERS,
    )


# ---- a conversation -----------------------------------------------------------------------


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse, dependencies=[READ])
def conversation_page(
    request: Request, conversation_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    """Metadata, transcript and actions of one conversation; an audited transcript read."""
    access_conversation_by_id(db, user.principal, conversation_id)
    context = _transcript_context(request, user, conversation_id)
    return templates.TemplateResponse(request, "conversation.html", context)


@router.get("/conversations/{conversation_id}/messages", response_class=HTMLResponse, dependencies=[READ])
def conversation_messages(
    request: Request, conversation_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    """The page's live part (details and transcript) alone, for the script to swap in. A
    transcript read like the page itself, audited on every fetch."""
    access_conversation_by_id(db, user.principal, conversation_id)
    context = _transcript_context(request, user, conversation_id)
    return _fragment(templates, "conversation.html", "live", context)


def _transcript_context(request: Request, user: SignedIn, conversation_id: uuid.UUID) -> dict[str, Any]:
    """Read the transcript and record the read, in one writing transaction of its own (the
    request's is read-only). Everything the template shows is loaded before it commits."""
    with unit_of_work(request.app.state.sessions) as writer:
        conversation = access_conversation_by_id(writer, user.principal, conversation_id)
        messages = read_transcript(writer, user.principal, conversation)
        attachments = attachments_by_message(writer, conversation)
        agent = writer.get_one(Agent, conversation.agent_id)
        names = team_names(
            writer,
            workspace_id=conversation.workspace_id,
            membership_ids=[conversation.assigned_membership_id, *(m.author_membership_id for m in messages)],
        )
        return {
            "user": user,
            "conversation": conversation,
            "agent_name": agent.name,
            "messages": messages,
            "attachments": attachments,
            "names": names,
            "status_labels": STATUS_LABELS,
            "duration": duration_text(conversation.duration),
            "may_reply": user.principal.can(Permission.CONVERSATION_REPLY),
            "mine": conversation.assigned_membership_id == user.principal.membership_id,
            "max_chars": MAX_MESSAGE_CHARS,
        }


@router.get("/conversations/{conversation_id}/attachments/{attachment_id}", dependencies=[READ])
def conversation_attachment(
    request: Request,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
) -> StreamingResponse:
    """The attachment's file, decrypted, as a download (never shown inline). Audited as
    ``conversation.attachment.read`` unless the reader is the assigned support person. The
    event commits before the first byte: a download cut short is still on the record."""
    access_conversation_by_id(db, user.principal, conversation_id)
    store = EncryptedFileStore(settings.uploads_dir)
    with unit_of_work(request.app.state.sessions) as writer:
        conversation = access_conversation_by_id(writer, user.principal, conversation_id)
        attachment = read_attachment(writer, user.principal, conversation, attachment_id)
        keyring: Keyring = writer.info[KEYRING_INFO_KEY]
        try:
            # A local file's header, read here so that a missing file or a destroyed key is a
            # 404 that leaves no audit event behind.
            reader = store.open(
                attachment.file_id,
                key=keyring.contact_key_for_reading,
                bound_to=attachment_binding(attachment),
            )
        except (StoredFileNotFoundError, KeyUnavailableError) as exc:
            raise NotFound() from exc
        name, media_type, size = attachment.file_name, attachment.media_type, attachment.byte_size
    return StreamingResponse(
        _chunks(reader),
        media_type=media_type,
        headers={
            "content-disposition": content_disposition(name),
            "content-length": str(size),
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'; sandbox",
            "cache-control": "no-store",
        },
    )


def _chunks(reader: DecryptingReader) -> Iterator[bytes]:
    # A chunk that fails its tag raises here, which aborts the response mid-body: the
    # client sees a truncated download (shorter than Content-Length), never a clean one.
    with reader:
        yield from reader


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one in RFC 5987 form."""
    fallback = _UNSAFE_FILENAME.sub("_", name).strip("._") or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/conversations/{conversation_id}/events", dependencies=[READ])
async def conversation_events(
    request: Request, conversation_id: uuid.UUID, db: DbSession, user: CurrentUser
) -> StreamingResponse:
    """Server-sent events for one conversation: ``event: message`` ``{"conversation_id",
    "seq"}`` for a stored message, ``event: status`` ``{"conversation_id", "state"}`` when it
    changes hands (``HANDS``), ``event: resync`` after lost events."""
    await run_in_threadpool(access_conversation_by_id, db, user.principal, conversation_id)
    secret = _stream_secret(request)
    await run_in_threadpool(end_request_transaction, db)
    reference = str(conversation_id)

    async def translate(_principal: Principal, event: Event) -> bytes | None:
        kind = event.data.get("kind")
        if kind == "message":
            return _sse("message", {"conversation_id": reference, "seq": event.data.get("seq")})
        if kind == "status" and event.data.get("state") in HANDS:
            return _sse("status", {"conversation_id": reference, "state": event.data.get("state")})
        return None  # the agent typing, or a delay notice: the widget's business, not the team's

    def still_allowed(reader: Session, principal: Principal) -> None:
        access_conversation_by_id(reader, principal, conversation_id)

    return StreamingResponse(
        _stream(
            request,
            topic=conversation_topic(conversation_id),
            secret=secret,
            principal=user.principal,
            still_allowed=still_allowed,
            translate=translate,
        ),
        media_type="text/event-stream",
        headers=_STREAM_HEADERS,
    )


# ---- actions ------------------------------------------------------------------------------


@router.post("/conversations/{conversation_id}/reply", dependencies=[REPLY])
def reply(
    request: Request,
    conversation_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    text: ReplyField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Send the customer a reply; the conversation becomes the sender's if nobody had it.
    An empty or too long reply is a 422 that changes nothing."""
    return _act(request, db, user, conversation_id, csrf_token, functools.partial(do_reply, text=text))


@router.post("/conversations/{conversation_id}/take", dependencies=[REPLY])
def take(
    request: Request, conversation_id: uuid.UUID, db: DbSession, user: CurrentUser, csrf_token: CsrfField = ""
) -> Response:
    """Take the conversation (from the agent, or unassigned in the inbox) without replying."""
    return _act(request, db, user, conversation_id, csrf_token, do_take)


@router.post("/conversations/{conversation_id}/resolve", dependencies=[REPLY])
def resolve(
    request: Request, conversation_id: uuid.UUID, db: DbSession, user: CurrentUser, csrf_token: CsrfField = ""
) -> Response:
    """End the conversation as resolved by a person."""
    return _act(request, db, user, conversation_id, csrf_token, do_resolve_conversation)


@router.post("/conversations/{conversation_id}/hand-back", dependencies=[REPLY])
def hand_back(
    request: Request, conversation_id: uuid.UUID, db: DbSession, user: CurrentUser, csrf_token: CsrfField = ""
) -> Response:
    """Give the conversation back to the agent, which answers the customer's next message."""
    return _act(request, db, user, conversation_id, csrf_token, do_hand_back_conversation)


def _act(
    request: Request,
    db: Session,
    user: SignedIn,
    conversation_id: uuid.UUID,
    csrf_token: str,
    action: Callable[..., object],
) -> Response:
    """Check the form's CSRF token, lock the conversation (so that two people acting at once
    are ordered), run ``action`` in the request's transaction and go back to the page."""
    check_csrf(request, csrf_token)
    conversation = access_conversation_by_id(db, user.principal, conversation_id, for_update=True)
    action(db, bus=request.app.state.events, principal=user.principal, conversation=conversation)
    return RedirectResponse(f"/conversations/{conversation.id}", status_code=303)


# ---- rendering ----------------------------------------------------------------------------


def _fragment(templates: Jinja2Templates, name: str, block: str, context: dict[str, Any]) -> HTMLResponse:
    """One block of a page template rendered alone (autoescaped like the page)."""
    template = templates.env.get_template(name)
    render = template.blocks[block]
    return HTMLResponse("".join(render(template.new_context(context))))


def duration_text(duration: dt.timedelta) -> str:
    """A duration as a person reads it: "45 s", "3 min 12 s", "2 h 5 min", "3 d 4 h"."""
    seconds = max(0, int(duration.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds} s"
    return f"{seconds} s"


# ---- the live streams ---------------------------------------------------------------------


def _stream_secret(request: Request) -> str:
    secret = session_secret(request)
    if secret is None:  # the permission check passed, so there was one: kept for the types
        raise Unauthenticated()
    return secret


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _may_reach_agent(sessions: sessionmaker[Session], principal: Principal, agent_id: uuid.UUID) -> bool:
    with unit_of_work(sessions) as reader:
        try:
            access_agent_by_id(reader, principal, agent_id)
        except NotFound:
            return False
        return True


def _recheck(
    sessions: sessionmaker[Session], secret: str, still_allowed: Callable[[Session, Principal], None]
) -> Principal | None:
    """The viewer's principal as the session cookie gives it now, or None when the session has
    ended, is not complete, no longer reads conversations or no longer reaches what it watches
    (``still_allowed`` raises ``NotFound``). Reads only: the idle clock is left alone."""
    with unit_of_work(sessions) as reader:
        user = access_session(reader, secret)
        if (
            user is None
            or user.awaiting_second_factor
            or user.must_enrol_mfa
            or not user.principal.can(Permission.CONVERSATION_READ)
        ):
            return None
        try:
            still_allowed(reader, user.principal)
        except NotFound:
            return None
        return user.principal


async def _stream(
    request: Request,
    *,
    topic: str,
    secret: str,
    principal: Principal,
    still_allowed: Callable[[Session, Principal], None],
    translate: Callable[[Principal, Event], Awaitable[bytes | None]],
) -> AsyncIterator[bytes]:
    """Forward what ``translate`` makes of each event on ``topic``; re-check the viewer every
    ``KEEP_ALIVE_SECONDS`` (see the module docstring) and end when they are no longer let in,
    when the browser goes away or when the bus closes."""
    bus: EventBus = request.app.state.events
    sessions: sessionmaker[Session] = request.app.state.read_sessions
    loop = asyncio.get_running_loop()
    try:
        async with bus.subscribe([topic]) as subscription:
            # Sent once subscribed: whatever changes from here on is delivered, so the page
            # reloads its fragment now to cover what changed before.
            yield b": subscribed\n\n"
            next_check = loop.time() + KEEP_ALIVE_SECONDS
            while not await request.is_disconnected():
                event = await subscription.next(timeout=max(0.0, next_check - loop.time()))
                if loop.time() >= next_check:
                    current = await database_gate(request).run(_recheck, sessions, secret, still_allowed)
                    if current is None:
                        return
                    principal = current
                    next_check = loop.time() + KEEP_ALIVE_SECONDS
                    if event is None:
                        yield b": keep-alive\n\n"
                if event is None:
                    continue
                if event.resync:
                    yield _sse("resync", {})
                    continue
                chunk = await translate(principal, event)
                if chunk is not None:
                    yield chunk
    except SubscriptionClosed:
        return  # the server is shutting down: the browser reconnects to another process
