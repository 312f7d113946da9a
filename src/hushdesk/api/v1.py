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

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_id, list_agents
from hushdesk.audit.models import AuditEvent
from hushdesk.audit.queries import AuditFilter, list_workspace_events
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import Principal
from hushdesk.infra.errors import NotFound
from hushdesk.web.authz import api_requires
from hushdesk.web.deps import DbSession
from hushdesk.workspaces.models import Workspace

router = APIRouter(prefix="/api/v1")

DEFAULT_AUDIT_PAGE = 100
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
