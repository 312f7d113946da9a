"""The agents pages: the list, one agent with the members assigned to it, and creating one.

Every read goes through ``hushdesk.agents.service``: managers and support people see only the
agents assigned to them, and another agent's page is a 404, exactly as a missing one is.
Creating agents is for owners and admins.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.agents.service import access_agent_by_id, do_create_agent, list_agents
from hushdesk.audit.models import ActorKind
from hushdesk.identity.models import Membership, User
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import PermissionDenied, ValidationFailed
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()


@router.get("/agents", response_class=HTMLResponse, dependencies=[requires(Permission.AGENT_READ)])
def agents(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    return _agents_page(request, db, templates, user)


@router.post("/agents", response_class=HTMLResponse, dependencies=[requires(Permission.AGENT_WRITE)])
def create_agent(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    name: Annotated[str, Form(max_length=500)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Create an agent (owners and admins: a manager configures only the agents given to them)."""
    check_csrf(request, csrf_token)
    if not _may_create(user):
        raise PermissionDenied("Only owners and admins create agents.")
    try:
        agent = do_create_agent(db, workspace_id=user.workspace.id, name=name)
    except ValidationFailed as exc:
        return _agents_page(request, db, templates, user, problem=exc.public_message, name=name, status=422)
    do_record_first_version(db, agent, actor=Actor(ActorKind.USER, str(user.user.id)))
    return RedirectResponse(f"/agents/{agent.id}", status_code=303)


@router.get("/agents/{agent_id}", response_class=HTMLResponse, dependencies=[requires(Permission.AGENT_READ)])
def agent(
    request: Request, agent_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    found = access_agent_by_id(db, user.principal, agent_id)
    # Who else works on it is for those who may see the team.
    members = _assigned_members(db, found) if user.principal.can(Permission.MEMBER_READ) else None
    return templates.TemplateResponse(
        request, "agent.html", {"user": user, "agent": found, "members": members}
    )


def _may_create(user: SignedIn) -> bool:
    return user.principal.can(Permission.AGENT_WRITE) and not user.principal.sees_only_assigned_agents


def _agents_page(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    *,
    problem: str | None = None,
    name: str = "",
    status: int = 200,
) -> Response:
    context = {
        "user": user,
        "agents": list_agents(db, user.principal),
        "may_create": _may_create(user),
        "problem": problem,
        "name": name,
    }
    return templates.TemplateResponse(request, "agents.html", context, status_code=status)


def _assigned_members(db: Session, agent: Agent) -> list[tuple[Membership, User]]:
    rows = db.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .join(AgentAssignment, AgentAssignment.membership_id == Membership.id)
        .where(
            AgentAssignment.agent_id == agent.id,
            AgentAssignment.workspace_id == agent.workspace_id,
            Membership.workspace_id == agent.workspace_id,
        )
        .order_by(User.display_name)
    ).all()
    return [(membership, person) for membership, person in rows]
