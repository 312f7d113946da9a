"""Finding, creating and assigning agents, always through the acting principal.

Every read goes through the principal: an object of another workspace, or an agent not
assigned to a manager or support person, is ``NotFound``, exactly as a missing one is.
Services flush, never commit; the caller records the audit event.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.identity.models import Membership
from hushdesk.identity.principal import Principal
from hushdesk.infra.errors import Conflict, NotFound, ValidationFailed
from hushdesk.infra.text import has_control_characters
from hushdesk.workspaces.service import slugify

_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")


def _visible_agents(principal: Principal) -> Select[Agent]:
    query = select(Agent).where(Agent.workspace_id == principal.workspace_id)
    if principal.sees_only_assigned_agents:
        query = query.where(
            Agent.id.in_(
                select(AgentAssignment.agent_id).where(
                    AgentAssignment.membership_id == principal.membership_id,
                    AgentAssignment.workspace_id == principal.workspace_id,
                )
            )
        )
    return query


def access_agent_by_id(session: Session, principal: Principal, agent_id: uuid.UUID) -> Agent:
    """The agent ``agent_id`` if the principal may reach it. Raises ``NotFound`` for a missing
    agent, another workspace's, and one not assigned to a manager or support person."""
    agent = session.scalar(_visible_agents(principal).where(Agent.id == agent_id))
    if agent is None:
        raise NotFound()
    return agent


def list_agents(session: Session, principal: Principal) -> list[Agent]:
    """The agents the principal may reach, by name."""
    return list(session.scalars(_visible_agents(principal).order_by(Agent.name, Agent.id)))


def check_agent_name(name: str) -> str:
    clean = " ".join(name.split())
    if not 1 <= len(clean) <= 120:
        raise ValidationFailed("Give the agent a name of 1 to 120 characters.")
    if has_control_characters(clean):
        raise ValidationFailed("An agent's name may not contain control characters.")
    return clean


def check_agent_slug(slug: str) -> str:
    if not _SLUG.fullmatch(slug):
        raise ValidationFailed(
            "A slug is 1 to 48 lowercase letters, digits and dashes, starting with a letter or digit."
        )
    return slug


def access_agent_by_slug(session: Session, *, workspace_id: uuid.UUID, slug: str) -> Agent:
    """The agent ``slug`` of workspace ``workspace_id``, for the local operator (the CLI),
    who may reach every agent of a workspace. Raises ``NotFound``."""
    agent = session.scalar(select(Agent).where(Agent.workspace_id == workspace_id, Agent.slug == slug))
    if agent is None:
        raise NotFound()
    return agent


def do_create_agent(
    session: Session, *, workspace_id: uuid.UUID, name: str, slug: str | None = None
) -> Agent:
    """Create an agent in workspace ``workspace_id`` (the caller has checked that its actor may)
    with the default configuration: the offline extractive responder and lexical retrieval.
    The slug is ``slug``, or one derived from the name and made unique in the workspace.
    Raises ``ValidationFailed`` for a bad name or slug, ``Conflict`` for a slug in use.
    Flushes; never commits. The caller records the first configuration version."""
    clean_name = check_agent_name(name)
    if slug is not None:
        chosen = check_agent_slug(slug)
        if _slug_taken(session, workspace_id, chosen):
            raise Conflict("Another agent of this workspace already has that slug.")
    else:
        chosen = _free_slug(session, workspace_id, slugify(clean_name)[:40] or "agent")
    agent = Agent(workspace_id=workspace_id, name=clean_name, slug=chosen)
    session.add(agent)
    session.flush()
    return agent


def _slug_taken(session: Session, workspace_id: uuid.UUID, slug: str) -> bool:
    found = session.scalar(select(Agent.id).where(Agent.workspace_id == workspace_id, Agent.slug == slug))
    return found is not None


def _free_slug(session: Session, workspace_id: uuid.UUID, base: str) -> str:
    if not base[0].isalnum():
        base = f"agent-{base}"
    slug, number = base, 2
    while _slug_taken(session, workspace_id, slug):
        slug, number = f"{base}-{number}", number + 1
    return slug


def assigned_agent_ids(session: Session, *, membership_id: uuid.UUID) -> set[uuid.UUID]:
    return set(
        session.scalars(
            select(AgentAssignment.agent_id).where(AgentAssignment.membership_id == membership_id)
        )
    )


def do_set_assignments(
    session: Session, principal: Principal, *, membership: Membership, agent_ids: Iterable[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Make ``agent_ids`` exactly the agents assigned to ``membership`` (of the principal's
    workspace). Raises ``NotFound`` when the membership or any agent is not the workspace's.
    Returns (added, removed). Flushes; never commits."""
    if membership.workspace_id != principal.workspace_id:
        raise NotFound()
    wanted = set(agent_ids)
    found = set(
        session.scalars(
            select(Agent.id).where(Agent.workspace_id == principal.workspace_id, Agent.id.in_(wanted))
        )
    )
    if found != wanted:
        raise NotFound()
    current = assigned_agent_ids(session, membership_id=membership.id)
    added, removed = wanted - current, current - wanted
    if removed:
        session.execute(
            delete(AgentAssignment).where(
                AgentAssignment.membership_id == membership.id, AgentAssignment.agent_id.in_(removed)
            )
        )
    session.add_all(
        AgentAssignment(workspace_id=principal.workspace_id, agent_id=agent_id, membership_id=membership.id)
        for agent_id in added
    )
    session.flush()
    return added, removed
