"""The team: members, roles, agent assignments and invitations.

The team rules live in ``hushdesk.identity.members``; this module parses forms, asks for a
fresh second factor before anyone is made an admin or an owner, and shows the one-time links
(there is no mail server) exactly once, on the page that made them. A refused change runs in a
savepoint (``db.begin_nested()``) that is rolled back, so it changes nothing even when refused
halfway, while the request's transaction commits to show the refusal.

The links' public pages, and a member changing their own password, are in
``web/link_pages.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.agents.service import access_agent_by_id, assigned_agent_ids, do_set_assignments, list_agents
from hushdesk.identity.errors import StepUpRequired
from hushdesk.identity.invitations import do_invite_member, do_revoke_invitation, list_pending_invitations
from hushdesk.identity.login import account_has_second_factor
from hushdesk.identity.members import (
    access_membership_by_id,
    do_change_role,
    do_remove_member,
    is_elevated_role,
    list_members,
)
from hushdesk.identity.models import Membership, Role, User
from hushdesk.identity.password_reset import do_issue_password_reset
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import AGENT_SCOPED_ROLES, Principal
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import Conflict, HushdeskError, PermissionDenied, ValidationFailed
from hushdesk.web.audit_trail import record_assignments, recorder
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()

CsrfField = Annotated[str, Form(max_length=128)]
AgentIdsField = Annotated[list[uuid.UUID], Form(default_factory=list, max_length=500)]
# What a refused team change may raise; anything else (NotFound, StepUpRequired) propagates.
_REFUSALS = (PermissionDenied, Conflict, ValidationFailed)
_NO_STORE = {"Cache-Control": "no-store"}
_ROLE_HINTS = {
    Role.OWNER: "everything, including the workspace itself",
    Role.ADMIN: "everything but the workspace itself",
    Role.MANAGER: "configures and reads the agents assigned to them",
    Role.SUPPORT: "takes over conversations of the agents assigned to them",
    Role.AUDITOR: "reads the audit log, nothing else",
}


# -- the team page ------------------------------------------------------------------------------


@router.get("/team", response_class=HTMLResponse, dependencies=[requires(Permission.MEMBER_READ)])
def team(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    return _team_page(request, db, templates, user)


@router.post(
    "/team/invitations", response_class=HTMLResponse, dependencies=[requires(Permission.MEMBER_MANAGE)]
)
def invite(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    email: Annotated[str, Form(max_length=254)],
    role: Annotated[Role, Form()],
    agent_ids: AgentIdsField,
    csrf_token: CsrfField = "",
) -> Response:
    """Make a one-time invitation link and show it, this once."""
    check_csrf(request, csrf_token)
    if is_elevated_role(role) and not user.second_factor_is_fresh():
        raise StepUpRequired("/team")
    agents = [access_agent_by_id(db, user.principal, agent_id).id for agent_id in agent_ids]
    entered = {"email": email, "role": role.value, "agent_ids": {str(agent_id) for agent_id in agents}}
    try:
        with db.begin_nested():
            new = do_invite_member(
                db, user.principal, email=email, role=role, agent_ids=agents, record=recorder(db)
            )
    except _REFUSALS as exc:
        return _team_page(request, db, templates, user, problem=exc, entered=entered)
    link = _absolute(request, f"/invite/{new.token}")
    return _team_page(request, db, templates, user, invite_link=link, invited=new.invitation.email)


@router.post("/team/invitations/{invitation_id}/revoke", dependencies=[requires(Permission.MEMBER_MANAGE)])
def revoke_invitation(
    request: Request,
    invitation_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    try:
        with db.begin_nested():
            do_revoke_invitation(db, user.principal, invitation_id=invitation_id, record=recorder(db))
    except _REFUSALS as exc:
        return _team_page(request, db, templates, user, problem=exc)
    return RedirectResponse("/team", status_code=303)


# -- one member ---------------------------------------------------------------------------------


@router.get(
    "/team/members/{membership_id}",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.MEMBER_READ)],
)
def member(
    request: Request, membership_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    return _member_page(
        request, db, templates, user, access_membership_by_id(db, user.principal, membership_id)
    )


@router.post("/team/members/{membership_id}/role", dependencies=[requires(Permission.MEMBER_MANAGE)])
def change_role(
    request: Request,
    membership_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    role: Annotated[Role, Form()],
    csrf_token: CsrfField = "",
) -> Response:
    """Change a member's role. Their sessions in the workspace end at once."""
    check_csrf(request, csrf_token)
    target = access_membership_by_id(db, user.principal, membership_id)
    if is_elevated_role(role) and not user.second_factor_is_fresh():
        raise StepUpRequired(f"/team/members/{target.id}")
    try:
        with db.begin_nested():
            do_change_role(db, user.principal, membership_id=target.id, role=role, record=recorder(db))
    except _REFUSALS as exc:
        return _member_page(request, db, templates, user, target, problem=exc)
    return RedirectResponse(f"/team/members/{target.id}", status_code=303)


@router.post("/team/members/{membership_id}/agents", dependencies=[requires(Permission.MEMBER_MANAGE)])
def set_agents(
    request: Request,
    membership_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    agent_ids: AgentIdsField,
    csrf_token: CsrfField = "",
) -> Response:
    """Make ``agent_ids`` exactly the member's agents. Takes effect on their next request:
    every access check reads the assignments afresh, so no session needs to end."""
    check_csrf(request, csrf_token)
    target = access_membership_by_id(db, user.principal, membership_id)
    if target.role not in AGENT_SCOPED_ROLES:
        problem = ValidationFailed("Only managers and support people are assigned to agents.")
        return _member_page(request, db, templates, user, target, problem=problem)
    added, removed = do_set_assignments(db, user.principal, membership=target, agent_ids=agent_ids)
    record_assignments(db, actor_id=user.user.id, membership=target, added=added, removed=removed)
    return RedirectResponse(f"/team/members/{target.id}", status_code=303)


@router.post("/team/members/{membership_id}/remove", dependencies=[requires(Permission.MEMBER_MANAGE)])
def remove_member(
    request: Request,
    membership_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, csrf_token)
    target = access_membership_by_id(db, user.principal, membership_id)
    try:
        with db.begin_nested():
            do_remove_member(db, user.principal, membership_id=target.id, record=recorder(db))
    except _REFUSALS as exc:
        return _member_page(request, db, templates, user, target, problem=exc)
    return RedirectResponse("/team", status_code=303)


@router.post(
    "/team/members/{membership_id}/password-reset",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.MEMBER_MANAGE, fresh=True)],
)
def issue_password_reset(
    request: Request,
    membership_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField = "",
) -> Response:
    """Make a one-time password reset link for the member and show it, this once."""
    check_csrf(request, csrf_token)
    target = access_membership_by_id(db, user.principal, membership_id)
    try:
        with db.begin_nested():
            new = do_issue_password_reset(db, user.principal, membership_id=target.id, record=recorder(db))
    except _REFUSALS as exc:
        return _member_page(request, db, templates, user, target, problem=exc)
    link = _absolute(request, f"/reset/{new.token}")
    return _member_page(request, db, templates, user, target, reset_link=link)


# -- rendering ------------------------------------------------------------------------------------


def _team_page(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    *,
    problem: HushdeskError | None = None,
    entered: Mapping[str, object] | None = None,
    invite_link: str | None = None,
    invited: str | None = None,
) -> Response:
    principal = user.principal
    context = {
        "user": user,
        "members": list_members(db, principal),
        "agent_names": _agent_names_by_membership(db, principal),
        "invitations": list_pending_invitations(db, principal),
        "agents": list_agents(db, principal),
        "roles": _grantable_roles(user),
        "can_manage": principal.can(Permission.MEMBER_MANAGE),
        "problem": problem.public_message if problem else None,
        "entered": entered or {"role": Role.SUPPORT.value, "agent_ids": set()},
        "invite_link": invite_link,
        "invited": invited,
    }
    status = problem.status if problem else 200
    headers = _NO_STORE if invite_link else None
    return templates.TemplateResponse(request, "team.html", context, status_code=status, headers=headers)


def _member_page(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    membership: Membership,
    *,
    problem: HushdeskError | None = None,
    reset_link: str | None = None,
) -> Response:
    person = db.get(User, membership.user_id)
    assert person is not None  # the foreign key cascades: no membership outlives its account
    is_self = membership.id == user.principal.membership_id
    may_act = (
        user.principal.can(Permission.MEMBER_MANAGE)
        and not is_self
        and (membership.role != Role.OWNER.value or user.role == Role.OWNER.value)
    )
    context = {
        "user": user,
        "member": membership,
        "person": person,
        "has_second_factor": account_has_second_factor(db, user_id=person.id),
        "is_self": is_self,
        "may_act": may_act,
        "roles": _grantable_roles(user),
        "agent_scoped": membership.role in AGENT_SCOPED_ROLES,
        "agents": list_agents(db, user.principal),
        "assigned": {str(agent_id) for agent_id in assigned_agent_ids(db, membership_id=membership.id)},
        "problem": problem.public_message if problem else None,
        "reset_link": reset_link,
    }
    status = problem.status if problem else 200
    headers = _NO_STORE if reset_link else None
    return templates.TemplateResponse(request, "member.html", context, status_code=status, headers=headers)


# -- helpers --------------------------------------------------------------------------------------


def _grantable_roles(user: SignedIn) -> list[tuple[str, str]]:
    """The roles the user may give (value, description): owners give any, admins any but owner."""
    if not user.principal.can(Permission.MEMBER_MANAGE):
        return []
    roles = [role for role in Role if role is not Role.OWNER or user.role == Role.OWNER.value]
    return [(role.value, _ROLE_HINTS[role]) for role in roles]


def _agent_names_by_membership(db: Session, principal: Principal) -> dict[uuid.UUID, list[str]]:
    rows = db.execute(
        select(AgentAssignment.membership_id, Agent.name)
        .join(Agent, Agent.id == AgentAssignment.agent_id)
        .where(
            AgentAssignment.workspace_id == principal.workspace_id,
            Agent.workspace_id == principal.workspace_id,
        )
        .order_by(Agent.name)
    ).all()
    names: dict[uuid.UUID, list[str]] = {}
    for membership_id, name in rows:
        names.setdefault(membership_id, []).append(name)
    return names


def _absolute(request: Request, path: str) -> str:
    """A link on this server as the browser reached it (the Host header is checked against
    the allowed hosts before any route runs, so it cannot be poisoned)."""
    return str(request.base_url).rstrip("/") + path
