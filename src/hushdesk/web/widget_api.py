"""The website widget's API (``/widget/v1``): what the loader in the host page and the iframe
on our own origin call. See ``hushdesk.channels.widget.sessions`` for the token flow and
docs/widget.md for the whole design.

Who may call what:

- ``POST /sessions`` is the only route a host page calls. Its Origin must be one of the
  agent's allowed domains; a refusal is counted (the agent's page shows it) and carries no
  CORS header, so the page cannot even read it.
- Every other route is called by the iframe with ``Authorization: Bearer <session token>``
  and is same-origin: no CORS header is ever sent for them, so no other page's script can
  read their answers.

Nothing the customer types is stored before a consent record exists for the session.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile as StarletteUpload

from hushdesk.agents.runtime import AssistantServices
from hushdesk.channels.widget.identity import (
    InvalidIdentityTokenError,
    VerifiedIdentity,
    verify_identity_token,
)
from hushdesk.channels.widget.origins import OriginRefusedError, match_origin
from hushdesk.channels.widget.sessions import (
    Visitor,
    WidgetTokenRefused,
    agent_by_widget_key,
    authenticate_visitor,
    do_attach_contact,
    do_exchange_bootstrap,
    do_open_widget_session,
    do_refresh_token,
)
from hushdesk.conversations.attachment_store import do_store_attachment
from hushdesk.conversations.attachments import MAX_ATTACHMENT_BYTES, AttachmentTooLargeError
from hushdesk.conversations.consent import ConsentRequired, do_record_consent, has_consent
from hushdesk.conversations.models import Attachment, Channel, ConsentKind, Conversation
from hushdesk.conversations.redaction import redact_for_storage
from hushdesk.conversations.refusals import do_count_refusal
from hushdesk.conversations.replies import enqueue_reply
from hushdesk.conversations.service import (
    MAX_MESSAGE_CHARS,
    check_message_text,
    do_open_conversation,
    do_store_customer_message,
    find_open_conversation,
    messages_after,
)
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import PermissionDenied, ValidationFailed
from hushdesk.infra.events import EventBus
from hushdesk.infra.ratelimit import RateRule
from hushdesk.settings import Settings
from hushdesk.web.authz import WIDGET
from hushdesk.web.db_gate import database_gate
from hushdesk.web.deps import DbSession
from hushdesk.web.rate_limits import enforce
from hushdesk.web.widget_wire import (
    ConversationLookup,
    bearer_token,
    client_address,
    conversation_json,
    message_json,
    messages_json,
    visitor_conversation,
)
from hushdesk.workspaces.models import Workspace

router = APIRouter(prefix="/widget/v1")

SESSIONS_PER_ADDRESS = RateRule("widget_sessions_address", "30/minute")
REFUSALS_COUNTED_PER_ADDRESS = RateRule("widget_refusals_address", "30/minute")
CALLS_PER_ADDRESS = RateRule("widget_calls_address", "300/minute")
MESSAGES_PER_VISITOR = RateRule("widget_messages_visitor", "15/minute")
MESSAGES_PER_ADDRESS = RateRule("widget_messages_address", "60/minute")
PREFLIGHT_MAX_AGE = "600"
# An attachment's request may be a little larger than the attachment (the multipart framing
# and the client id); the body-size guard counts it as the route reads and refuses beyond.
ATTACHMENT_PATHS = (re.compile(r"/widget/v1/attachments"),)
ATTACHMENT_BODY_BYTES = MAX_ATTACHMENT_BYTES + 64 * 1024


class OriginNotAllowed(PermissionDenied):
    code = "origin_not_allowed"
    default_message = "This website may not embed this chat."


class SessionRequest(BaseModel):
    agent: str = Field(max_length=64)
    user: str | None = Field(default=None, max_length=4096)


class ExchangeRequest(BaseModel):
    bootstrap: str = Field(max_length=1024)


class ConsentRequest(BaseModel):
    version: int = Field(ge=1, le=2**31)


class MessageRequest(BaseModel):
    client_id: uuid.UUID
    # Bounded above the product's own limit, so that a long message gets our clear error.
    text: str = Field(max_length=4 * MAX_MESSAGE_CHARS)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.events
    return bus


# ---- the host page -----------------------------------------------------------------------


@router.options("/sessions", dependencies=[WIDGET])
def sessions_preflight(request: Request, db: DbSession) -> Response:
    """CORS preflight of ``POST /sessions``: allowed only for an allowed origin of the agent
    named by ``?agent=`` (browsers send no body with a preflight, so the loader names it). A
    browser on another site stops at a refused preflight, so this is where its attempt is
    counted (in its own short transaction: a preflight's own one is read-only)."""
    address = client_address(request)
    enforce(request, SESSIONS_PER_ADDRESS, address)
    origin = request.headers.get("origin")
    widget_key = request.query_params.get("agent", "")
    agent = agent_by_widget_key(db, widget_key)
    try:
        allowed = match_origin(
            origin, agent.allowed_domains, allow_http=_settings(request).widget_allows_http_origins
        )
    except OriginRefusedError:
        if request.app.state.rate_limiter.hit(REFUSALS_COUNTED_PER_ADDRESS, address).allowed:
            with unit_of_work(request.app.state.sessions) as writer:
                do_count_refusal(
                    writer, workspace_id=agent.workspace_id, agent_id=agent.id, origin=origin or "(none)"
                )
        return Response(status_code=403)
    return Response(
        status_code=204,
        headers={
            "access-control-allow-origin": allowed,
            "access-control-allow-methods": "POST",
            "access-control-allow-headers": "content-type",
            "access-control-max-age": PREFLIGHT_MAX_AGE,
            "vary": "Origin",
        },
    )


@router.post("/sessions", dependencies=[WIDGET])
def open_session(request: Request, body: SessionRequest, db: DbSession) -> JSONResponse:
    """A bootstrap token for a visitor of an allowed page (see the module docstring)."""
    address = client_address(request)
    enforce(request, SESSIONS_PER_ADDRESS, address)
    settings = _settings(request)
    agent = agent_by_widget_key(db, body.agent)
    origin_header = request.headers.get("origin")
    try:
        origin = match_origin(
            origin_header, agent.allowed_domains, allow_http=settings.widget_allows_http_origins
        )
    except OriginRefusedError:
        # Answered rather than raised, so that the count commits with this request (a second
        # transaction would wait on SQLite's write lock, which this one holds). No CORS header:
        # the page that asked cannot read the answer.
        if request.app.state.rate_limiter.hit(REFUSALS_COUNTED_PER_ADDRESS, address).allowed:
            do_count_refusal(
                db, workspace_id=agent.workspace_id, agent_id=agent.id, origin=origin_header or "(none)"
            )
        refused = OriginNotAllowed()
        return JSONResponse(
            {"error": {"code": refused.code, "message": refused.public_message}}, status_code=refused.status
        )
    now = utcnow()
    identity = _identity(agent.identity_secret, body.user, now) if body.user else None
    issued = do_open_widget_session(db, agent=agent, origin=origin, identity=identity, now=now)
    return JSONResponse(
        {
            "bootstrap": issued.token,
            "frame_url": f"{settings.base_url}/widget/v1/frame/{agent.widget_key}",
            "expires_in": int((issued.expires_at - now).total_seconds()),
        },
        headers={"access-control-allow-origin": origin, "vary": "Origin"},
    )


def _identity(secret: str | None, token: str, now: dt.datetime) -> VerifiedIdentity:
    if not secret:
        raise ValidationFailed("This agent does not verify identities: leave out the user token.")
    try:
        return verify_identity_token(token, secret=secret, now=now)
    except InvalidIdentityTokenError as exc:
        raise WidgetTokenRefused("The user token is invalid or has expired.") from exc


# ---- the iframe ----------------------------------------------------------------------------


def _visitor(request: Request, db: Session) -> Visitor:
    enforce(request, CALLS_PER_ADDRESS, client_address(request))
    return authenticate_visitor(db, token=bearer_token(request), now=utcnow())


def _token_json(token: str, expires_at: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    return {"token": token, "expires_in": max(0, int((expires_at - now).total_seconds()))}


@router.post("/session/exchange", dependencies=[WIDGET])
def exchange(request: Request, body: ExchangeRequest, db: DbSession) -> dict[str, Any]:
    """The first session token for a bootstrap token (once), with what the frame shows first:
    whether consent is needed, the conversation so far (a verified customer's latest; an
    anonymous visitor's of this session only), and the limits."""
    enforce(request, CALLS_PER_ADDRESS, client_address(request))
    now = utcnow()
    visitor, issued = do_exchange_bootstrap(db, bootstrap=body.bootstrap, now=now)
    return {**_token_json(issued.token, issued.expires_at, now), **_frame_state(request, db, visitor)}


@router.post("/session/refresh", dependencies=[WIDGET])
def refresh(request: Request, db: DbSession) -> dict[str, Any]:
    """The next token; the presented one stops working. Also what ``exchange`` returns about
    the conversation, so that a frame reloaded after a host-page navigation can resume."""
    visitor = _visitor(request, db)
    now = utcnow()
    issued = do_refresh_token(db, visitor=visitor, now=now)
    return {**_token_json(issued.token, issued.expires_at, now), **_frame_state(request, db, visitor)}


def _frame_state(request: Request, db: Session, visitor: Visitor) -> dict[str, Any]:
    conversation = visitor_conversation(db, visitor)
    workspace_mode = _consent_mode(db, visitor)
    return {
        "consent": {
            "required": not has_consent(
                db, workspace_id=visitor.agent.workspace_id, widget_session_id=visitor.widget_session.id
            ),
            "mode": workspace_mode,
            "version": visitor.agent.config_version,
        },
        "conversation": conversation_json(conversation),
        "messages": messages_json(db, messages_after(db, conversation, after_seq=0)) if conversation else [],
        "limits": {"max_message_chars": MAX_MESSAGE_CHARS, "max_attachment_bytes": MAX_ATTACHMENT_BYTES},
    }


def _consent_mode(db: Session, visitor: Visitor) -> str:

    mode = db.scalar(select(Workspace.consent_mode).where(Workspace.id == visitor.agent.workspace_id))
    return mode or "accept"


@router.post("/consent", status_code=204, dependencies=[WIDGET])
def consent(request: Request, body: ConsentRequest, db: DbSession) -> Response:
    """Record that the visitor accepted (or, by the workspace's policy, was shown) the notice
    of the version they were given."""
    visitor = _visitor(request, db)
    contact = do_attach_contact(db, visitor=visitor)
    kind = ConsentKind.SHOWN if _consent_mode(db, visitor) == "shown" else ConsentKind.ACCEPTED
    do_record_consent(
        db,
        agent=visitor.agent,
        contact_id=contact.id,
        channel=Channel.WIDGET.value,
        kind=kind,
        version=body.version,
        widget_session_id=visitor.widget_session.id,
    )
    return Response(status_code=204)


def _conversation_for_message(request: Request, db: Session, visitor: Visitor) -> Conversation:
    address = client_address(request)
    enforce(request, MESSAGES_PER_VISITOR, str(visitor.widget_session.id))
    enforce(request, MESSAGES_PER_ADDRESS, address)
    per_agent = RateRule(
        "widget_messages_agent", f"{_settings(request).widget_agent_messages_per_minute}/minute"
    )
    enforce(request, per_agent, str(visitor.agent.id))
    if not has_consent(
        db, workspace_id=visitor.agent.workspace_id, widget_session_id=visitor.widget_session.id
    ):
        raise ConsentRequired()
    contact = do_attach_contact(db, visitor=visitor)
    lookup = ConversationLookup.of(visitor)
    existing = find_open_conversation(
        db,
        workspace_id=visitor.agent.workspace_id,
        agent_id=visitor.agent.id,
        contact_id=contact.id,
        widget_session_id=lookup.widget_session_id,
    )
    if existing is not None:
        return existing
    conversation = do_open_conversation(
        db,
        workspace_id=visitor.agent.workspace_id,
        agent_id=visitor.agent.id,
        contact_id=contact.id,
        channel=Channel.WIDGET.value,
        widget_session_id=visitor.widget_session.id,
    )
    lookup.announce(db, _bus(request), conversation)
    return conversation


@router.post("/messages", dependencies=[WIDGET])
def send_message(request: Request, body: MessageRequest, db: DbSession) -> JSONResponse:
    """Store the customer's message (once per ``client_id``) and, while the agent has the
    conversation, record the job that answers it; the answer arrives on ``/events``."""
    visitor = _visitor(request, db)
    text = check_message_text(body.text)
    conversation = _conversation_for_message(request, db, visitor)
    services: AssistantServices = request.app.state.assistant
    stored = do_store_customer_message(
        db,
        bus=_bus(request),
        conversation=conversation,
        text=redact_for_storage(db, workspace_id=conversation.workspace_id, text=text, names=services.names),
        client_message_id=str(body.client_id),
    )
    if stored.needs_reply:
        enqueue_reply(db, queue=request.app.state.jobs, message=stored.message)
    return JSONResponse(
        {"message": message_json(stored.message, attachment=None)},
        status_code=202 if stored.created else 200,
    )


@router.post("/attachments", dependencies=[WIDGET])
async def send_attachment(request: Request) -> JSONResponse:
    """An image or PDF for the team (multipart ``file`` and ``client_id``; at most 5 MiB; the
    type is read from the bytes). The token is checked before the body is read; the body-size
    guard counts it as it is read, up to ``ATTACHMENT_BODY_BYTES``."""
    token = bearer_token(request)
    await database_gate(request).run(_check_token, request, token)
    # The form's spooled temporary file is closed when the block ends, whatever happens.
    async with request.form(max_files=1, max_fields=2) as form:
        upload, client_id = form.get("file"), form.get("client_id")
        if not isinstance(upload, StarletteUpload) or not isinstance(client_id, str):
            raise ValidationFailed("Send the file as 'file' and its client id as 'client_id'.")
        try:
            client_uuid = uuid.UUID(client_id)
        except ValueError as exc:
            raise ValidationFailed("The client id is not a UUID.") from exc
        data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
        file_name = upload.filename or ""
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentTooLargeError()
    return await database_gate(request).run(_store_attachment, request, data, file_name, str(client_uuid))


def _check_token(request: Request, token: str) -> None:
    with unit_of_work(request.app.state.read_sessions) as db:
        authenticate_visitor(db, token=token, now=utcnow())


def _store_attachment(request: Request, data: bytes, name: str, client_id: str) -> JSONResponse:
    settings = _settings(request)
    with unit_of_work(request.app.state.sessions) as db:
        visitor = _visitor(request, db)
        conversation = _conversation_for_message(request, db, visitor)
        message = do_store_attachment(
            db,
            bus=_bus(request),
            files=EncryptedFileStore(settings.uploads_dir),
            conversation=conversation,
            data=data,
            file_name=name,
            client_message_id=client_id,
        )
        body = {"message": message_json(message, attachment=message_attachment(db, message.id))}
    return JSONResponse(body, status_code=202)


def message_attachment(db: Session, message_id: uuid.UUID) -> Any:

    return db.scalar(select(Attachment).where(Attachment.message_id == message_id))
