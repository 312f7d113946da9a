"""REST API v1: JSON for integrations, authenticated by API keys only.

Every route takes its principal from ``api_requires(Permission.X)``: an ``Authorization:
Bearer hd_live_...`` key whose scopes hold ``X``, never a cookie (so no cross-site request can
use the API). A missing, malformed, unknown, expired or revoked key is a 401; a live key
without the scope is a 403 and an ``api_key.denied`` audit event. Everything a key reads is of
its own workspace; an object of another workspace is a 404, exactly as a missing one is.
``docs/api.md`` documents the endpoints.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_id, list_agents
from hushdesk.audit.models import AuditEvent
from hushdesk.audit.queries import AuditFilter, list_workspace_events
from hushdesk.conversations.inbox import (
    MAX_INBOX_ROWS,
    InboxRow,
    access_conversation_by_id,
    attachments_by_message,
    list_inbox,
    read_transcript,
    team_names,
)
from hushdesk.conversations.models import Attachment, Conversation, Message
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import Principal
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound
from hushdesk.web.authz import api_requires
from hushdesk.web.deps import DbSession
from hushdesk.workspaces.models import Workspace

router = APIRouter(prefix="/api/v1")

DEFAULT_AUDIT_PAGE = 100
DEFAULT_CONVERSATION_PAGE = 100
MAX_AUDIT_PAGE = 500

AuditValue = str | int | bool | None


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorkspaceOut(_Out):
    id: uuid.UUID
    name: str
    slug: str
    region: str


class AgentOut(_Out):
    id: uuid.UUID
    name: str
    created_at: dt.datetime

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        return cls(id=agent.id, name=agent.name, created_at=agent.created_at)


class AgentList(_Out):
    agents: list[AgentOut]


class AuditEventOut(_Out):
    id: uuid.UUID
    seq: int
    occurred_at: dt.datetime
    actor_kind: str
    actor_id: str | None
    action: str
    target_kind: str | None
    target_id: str | None
    data: dict[str, AuditValue]
    # Hex: the event's hash commits to every other field and to the previous event's hash.
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        return cls(
            id=event.id,
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor_kind=event.actor_kind,
            actor_id=event.actor_id,
            action=event.action,
            target_kind=event.target_kind,
            target_id=event.target_id,
            data=dict(event.data),
            prev_hash=event.prev_hash.hex(),
            hash=event.hash.hex(),
        )


class AuditEventPage(_Out):
    events: list[AuditEventOut]
    # Pass as ``before_seq`` for the next (older) page; None when this page is the last.
    next_before_seq: int | None


class ConversationOut(_Out):
    """A conversation's metadata: never what anyone wrote."""

    id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str
    channel: str
    status: str
    handoff_reason: str | None
    assigned_to: str | None
    message_count: int
    started_at: dt.datetime
    last_message_at: dt.datetime

    @classmethod
    def of(cls, row: InboxRow) -> ConversationOut:
        return cls(
            id=row.id,
            agent_id=row.agent_id,
            agent_name=row.agent_name,
            channel=row.channel,
            status=row.status,
            handoff_reason=row.handoff_reason,
            assigned_to=row.assigned_name,
            message_count=row.message_count,
            started_at=row.started_at,
            last_message_at=row.last_message_at,
        )


class ConversationList(_Out):
    conversations: list[ConversationOut]


class CitationOut(_Out):
    title: str
    source: str


class AttachmentOut(_Out):
    id: uuid.UUID
    name: str
    media_type: str
    size: int


class MessageOut(_Out):
    id: uuid.UUID
    seq: int
    # "customer", "assistant", "person" or "notice" (a line of the product's own).
    author: str
    # The team member's name, for a person's reply.
    author_name: str | None
    text: str
    created_at: dt.datetime
    citations: list[CitationOut]
    attachment: AttachmentOut | None

    @classmethod
    def of(
        cls, message: Message, *, attachment: Attachment | None, names: dict[uuid.UUID, str]
    ) -> MessageOut:
        return cls(
            id=message.id,
            seq=message.seq,
            author=message.author,
            author_name=names.get(message.author_membership_id) if message.author_membership_id else None,
            text=message.body,
            created_at=message.created_at,
            citations=[
                CitationOut(title=str(item.get("title", "")), source=str(item.get("source", "")))
                for item in (message.citations or [])
            ],
            attachment=None
            if attachment is None
            else AttachmentOut(
                id=attachment.id,
                name=attachment.file_name,
                media_type=attachment.media_type,
                size=attachment.byte_size,
            ),
        )


class ConversationDetail(_Out):
    id: uuid.UUID
    agent_id: uuid.UUID
    channel: str
    status: str
    resolution: str | None
    handoff_reason: str | None
    assigned_to: str | None
    started_at: dt.datetime
    last_message_at: dt.datetime
    handed_off_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_seconds: int
    messages: list[MessageOut]

    @classmethod
    def of(
        cls,
        conversation: Conversation,
        messages: list[MessageOut],
        names: dict[uuid.UUID, str],
    ) -> ConversationDetail:
        assigned = conversation.assigned_membership_id
        return cls(
            id=conversation.id,
            agent_id=conversation.agent_id,
            channel=conversation.channel,
            status=conversation.status,
            resolution=conversation.resolution,
            handoff_reason=conversation.handoff_reason,
            assigned_to=names.get(assigned) if assigned else None,
            started_at=conversation.started_at,
            last_message_at=conversation.last_message_at,
            handed_off_at=conversation.handed_off_at,
            ended_at=conversation.ended_at,
            duration_seconds=int(conversation.duration.total_seconds()),
            messages=messages,
        )


@router.get("/workspace")
def get_workspace(
    db: DbSession, principal: Annotated[Principal, api_requires(Permission.WORKSPACE_READ)]
) -> WorkspaceOut:
    """The key's workspace."""
    workspace = db.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise NotFound()
    return WorkspaceOut(id=workspace.id, name=workspace.name, slug=workspace.slug, region=workspace.region)


@router.get("/agents")
def get_agents(
    db: DbSession, principal: Annotated[Principal, api_requires(Permission.AGENT_READ)]
) -> AgentList:
    """The workspace's agents, by name."""
    return AgentList(agents=[AgentOut.of(agent) for agent in list_agents(db, principal)])


@router.get("/agents/{agent_id}")
def get_agent(
    db: DbSession, principal: Annotated[Principal, api_requires(Permission.AGENT_READ)], agent_id: uuid.UUID
) -> AgentOut:
    """One agent of the workspace; 404 for a missing one and another workspace's alike."""
    return AgentOut.of(access_agent_by_id(db, principal, agent_id))


@router.get("/audit/events")
def get_audit_events(
    db: DbSession,
    principal: Annotated[Principal, api_requires(Permission.AUDIT_READ)],
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = DEFAULT_AUDIT_PAGE,
    before_seq: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> AuditEventPage:
    """The workspace chain's events, newest first, ``limit`` at a time; ``before_seq`` pages
    back to older ones."""
    page = list_workspace_events(
        db, workspace_id=principal.workspace_id, filters=AuditFilter(), before=before_seq, limit=limit
    )
    return AuditEventPage(
        events=[AuditEventOut.of(event) for event in page.events],
        next_before_seq=page.next_before,
    )


@router.get("/conversations")
def get_conversations(
    db: DbSession,
    principal: Annotated[Principal, api_requires(Permission.CONVERSATION_READ)],
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_INBOX_ROWS)] = DEFAULT_CONVERSATION_PAGE,
) -> ConversationList:
    """The workspace's conversations, newest activity first: those handed off to the team, or
    those of ``status`` ("bot", "resolved", "all"). Metadata only, so not an audited read."""
    rows = list_inbox(db, principal, status=status, limit=limit)
    return ConversationList(conversations=[ConversationOut.of(row) for row in rows])


@router.get("/conversations/{conversation_id}")
def get_conversation(
    request: Request,
    db: DbSession,
    principal: Annotated[Principal, api_requires(Permission.CONVERSATION_READ)],
    conversation_id: uuid.UUID,
) -> ConversationDetail:
    """One conversation with its messages in order; 404 for a missing one and another
    workspace's alike. A transcript read: always audited (``conversation.transcript.read``
    by the key), in a short writing transaction with the read itself, since the request's own
    is read-only."""
    access_conversation_by_id(db, principal, conversation_id)
    with unit_of_work(request.app.state.sessions) as writer:
        conversation = access_conversation_by_id(writer, principal, conversation_id)
        messages = read_transcript(writer, principal, conversation)
        attachments = attachments_by_message(writer, conversation)
        names = team_names(
            writer,
            workspace_id=conversation.workspace_id,
            membership_ids=[conversation.assigned_membership_id, *(m.author_membership_id for m in messages)],
        )
        out = [
            MessageOut.of(message, attachment=attachments.get(message.id), names=names)
            for message in messages
        ]
        return ConversationDetail.of(conversation, out, names)
