"""The agents pages: the list, one agent with the members assigned to it, creating one, its
settings with their version history, and deleting it. The agent's page also carries the
website widget's card (``web/agent_widget_pages.py``, included here).

Every read goes through ``hushdesk.agents.service``: managers and support people see only the
agents assigned to them, and another agent's page is a 404, exactly as a missing one is.
Creating and deleting agents is for owners and admins; deleting also needs a second factor
presented within the step-up window, and the agent's name typed to confirm. Changing the
settings is ``agent:write`` (a manager's own agents), versioned and audited by
``hushdesk.agents.config``; a bad form is shown again with its problem at 422, having changed
nothing. The knowledge base pages are in ``web/knowledge_pages.py``, included here.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hushdesk.agents.config import (
    MAX_CONSENT_NOTICE,
    MAX_GREETING,
    MAX_SYSTEM_PROMPT,
    RETRIEVAL_MODES,
    TONES,
    Actor,
    AgentSettings,
    do_record_first_version,
    do_update_settings,
    list_versions,
    settings_of,
)
from hushdesk.agents.knowledge.ingest import do_delete_agent
from hushdesk.agents.knowledge.models import KnowledgeDocument
from hushdesk.agents.models import Agent, AgentAssignment, AgentConfigVersion
from hushdesk.agents.service import access_agent_by_id, do_create_agent, list_agents
from hushdesk.audit.models import ActorKind
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.identity.models import Membership, User
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import PermissionDenied, ValidationFailed
from hushdesk.web import agent_widget_pages, knowledge_pages
from hushdesk.web.authz import requires
from hushdesk.web.deps import AppSettings, CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()
router.include_router(knowledge_pages.router)
router.include_router(agent_widget_pages.router)

CsrfField = Annotated[str, Form(max_length=128)]
# Bounds on what the form accepts at all, above the service's own limits, so that the service
# answers with its message: a 9000-character prompt is told the limit is 8000.
_TextField = Annotated[str, Form(max_length=4 * MAX_SYSTEM_PROMPT)]
_ShortField = Annotated[str, Form(max_length=500)]
_DOMAIN_SEPARATORS = re.compile(r"[\s,]+")

FIELD_LABELS = {
    "created": "Created",
    "name": "Name",
    "system_prompt": "System prompt",
    "greeting": "Greeting",
    "consent_notice": "Consent notice",
    "tone": "Tone",
    "temperature": "Temperature",
    "retrieval_mode": "Retrieval",
    "handoff_on_request": "Hand-off on request",
    "handoff_min_score": "Minimum relevance",
    "handoff_after_failures": "Hand-off after unanswered questions",
    "allowed_domains": "Website domains",
}


@dataclass(frozen=True, slots=True)
class SettingsForm:
    """The settings form as typed: the saved settings, or what was submitted when it is shown
    again with a problem."""

    name: str
    system_prompt: str
    greeting: str
    consent_notice: str
    tone: str
    temperature: str
    retrieval_mode: str
    handoff_on_request: bool
    handoff_min_score: str
    handoff_after_failures: str
    allowed_domains: str

    @classmethod
    def of(cls, settings: AgentSettings) -> SettingsForm:
        return cls(
            name=settings.name,
            system_prompt=settings.system_prompt,
            greeting=settings.greeting,
            consent_notice=settings.consent_notice,
            tone=settings.tone,
            temperature=f"{settings.temperature:g}",
            retrieval_mode=settings.retrieval_mode,
            handoff_on_request=settings.handoff_on_request,
            handoff_min_score=f"{settings.handoff_min_score:g}",
            handoff_after_failures=str(settings.handoff_after_failures),
            allowed_domains="\n".join(settings.allowed_domains),
        )

    def parsed(self) -> AgentSettings:
        """The settings the form holds, not yet checked (``check_agent_settings`` does that).
        Raises ``ValidationFailed`` for a number that is not one."""
        return AgentSettings(
            name=self.name,
            system_prompt=self.system_prompt,
            greeting=self.greeting,
            consent_notice=self.consent_notice,
            tone=self.tone,
            temperature=_number(self.temperature, "The temperature is a number between 0 and 1."),
            retrieval_mode=self.retrieval_mode,
            handoff_on_request=self.handoff_on_request,
            handoff_min_score=_number(
                self.handoff_min_score, "The minimum relevance score is a number between 0 and 100."
            ),
            handoff_after_failures=_whole_number(
                self.handoff_after_failures, "Hand off after 1 to 10 unanswered questions in a row."
            ),
            allowed_domains=tuple(part for part in _DOMAIN_SEPARATORS.split(self.allowed_domains) if part),
        )


@dataclass(frozen=True, slots=True)
class VersionRow:
    version: int
    changed_at: dt.datetime
    changed_by: str
    fields: tuple[str, ...]


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
    do_record_first_version(db, agent, actor=_actor(user))
    return RedirectResponse(f"/agents/{agent.id}", status_code=303)


@router.get("/agents/{agent_id}", response_class=HTMLResponse, dependencies=[requires(Permission.AGENT_READ)])
def agent(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    settings: AppSettings,
) -> Response:
    found = access_agent_by_id(db, user.principal, agent_id)
    # Who else works on it is for those who may see the team.
    members = _assigned_members(db, found) if user.principal.can(Permission.MEMBER_READ) else None
    context = {
        "user": user,
        "agent": found,
        "members": members,
        "documents": _document_count(db, found),
        "may_write": user.principal.can(Permission.AGENT_WRITE),
        "widget": agent_widget_pages.widget_panel(db, agent=found, base_url=settings.base_url),
        "identity_removed": request.query_params.get("identity_removed") == "1",
    }
    return templates.TemplateResponse(request, "agent.html", context)


@router.get(
    "/agents/{agent_id}/settings",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def agent_settings(
    request: Request, agent_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    """The settings form and the version history (the form shows the system prompt, which is
    for those who may change it)."""
    found = access_agent_by_id(db, user.principal, agent_id)
    return _settings_page(request, db, templates, user, found, SettingsForm.of(settings_of(found)))


@router.post(
    "/agents/{agent_id}/settings",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def update_agent_settings(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    name: _ShortField = "",
    system_prompt: _TextField = "",
    greeting: _TextField = "",
    consent_notice: _TextField = "",
    tone: _ShortField = "",
    temperature: _ShortField = "",
    retrieval_mode: _ShortField = "",
    handoff_on_request: _ShortField = "",
    handoff_min_score: _ShortField = "",
    handoff_after_failures: _ShortField = "",
    allowed_domains: _TextField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Save the settings: a new version and an ``agent.config.updated`` event naming the
    fields that changed, or nothing at all when none did. Bad input: 422, nothing changed."""
    check_csrf(request, csrf_token)
    found = access_agent_by_id(db, user.principal, agent_id)
    form = SettingsForm(
        name=name,
        system_prompt=system_prompt,
        greeting=greeting,
        consent_notice=consent_notice,
        tone=tone,
        temperature=temperature,
        retrieval_mode=retrieval_mode,
        handoff_on_request=bool(handoff_on_request),
        handoff_min_score=handoff_min_score,
        handoff_after_failures=handoff_after_failures,
        allowed_domains=allowed_domains,
    )
    try:
        changed = do_update_settings(db, found, form.parsed(), actor=_actor(user))
    except ValidationFailed as exc:
        return _settings_page(
            request, db, templates, user, found, form, problem=exc.public_message, status=422
        )
    outcome = "saved" if changed else "unchanged"
    return RedirectResponse(f"/agents/{found.id}/settings?{outcome}=1", status_code=303)


@router.post(
    "/agents/{agent_id}/delete",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE, fresh=True)],
)
def delete_agent(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    settings: AppSettings,
    confirm_name: _ShortField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Delete the agent with its history, knowledge and stored files (after commit). Owners and
    admins only, with a fresh second factor and the agent's name typed to confirm."""
    check_csrf(request, csrf_token)
    if not _may_create(user):
        raise PermissionDenied("Only owners and admins delete agents.")
    found = access_agent_by_id(db, user.principal, agent_id)
    if " ".join(confirm_name.split()) != found.name:
        problem = "Type the agent's name exactly as shown to delete it."
        form = SettingsForm.of(settings_of(found))
        return _settings_page(request, db, templates, user, found, form, delete_problem=problem, status=422)
    files = EncryptedFileStore(settings.uploads_dir)
    do_delete_agent(db, found, files=files, actor=_actor(user))
    return RedirectResponse("/agents", status_code=303)


def _may_create(user: SignedIn) -> bool:
    return user.principal.can(Permission.AGENT_WRITE) and not user.principal.sees_only_assigned_agents


def _actor(user: SignedIn) -> Actor:
    return Actor(ActorKind.USER, str(user.user.id))


def _settings_page(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    agent: Agent,
    form: SettingsForm,
    *,
    problem: str | None = None,
    delete_problem: str | None = None,
    status: int = 200,
) -> Response:
    clean = problem is None and delete_problem is None
    versions = _version_rows(db, list_versions(db, agent))
    context = {
        "user": user,
        "agent": agent,
        "form": form,
        "versions": versions,
        "field_labels": FIELD_LABELS,
        "tones": TONES,
        "retrieval_modes": RETRIEVAL_MODES,
        "limits": {
            "system_prompt": MAX_SYSTEM_PROMPT,
            "greeting": MAX_GREETING,
            "consent_notice": MAX_CONSENT_NOTICE,
        },
        "may_delete": _may_create(user),
        "problem": problem,
        "delete_problem": delete_problem,
        "saved": clean and request.query_params.get("saved") == "1",
        "unchanged": clean and request.query_params.get("unchanged") == "1",
    }
    return templates.TemplateResponse(request, "agent_settings.html", context, status_code=status)


def _number(value: str, message: str) -> float:
    try:
        return float(value.strip())
    except ValueError as exc:
        raise ValidationFailed(message) from exc


def _whole_number(value: str, message: str) -> int:
    number = _number(value, message)
    if not number.is_integer():
        raise ValidationFailed(message)
    return int(number)


def _version_rows(db: Session, versions: Sequence[AgentConfigVersion]) -> list[VersionRow]:
    """The versions with who made each (a person's name, else the kind of actor) and the
    labels of the fields that changed; never the values."""
    user_ids = {uuid.UUID(v.actor_id) for v in versions if v.actor_kind == ActorKind.USER}
    people = db.scalars(select(User).where(User.id.in_(user_ids))) if user_ids else ()
    names = {str(person.id): person.display_name for person in people}
    return [
        VersionRow(
            version=version.version,
            changed_at=version.changed_at,
            changed_by=names.get(version.actor_id, _ACTOR_NAMES.get(version.actor_kind, version.actor_kind)),
            fields=tuple(FIELD_LABELS.get(name, name.replace("_", " ")) for name in version.changed_fields),
        )
        for version in versions
    ]


_ACTOR_NAMES = {
    ActorKind.USER.value: "a former member",
    ActorKind.OPERATOR.value: "the operator (command line)",
    ActorKind.API_KEY.value: "an API key",
    ActorKind.SYSTEM.value: "Hushdesk",
}


def _document_count(db: Session, agent: Agent) -> int:
    count = db.scalar(
        select(func.count())
        .select_from(KnowledgeDocument)
        .where(KnowledgeDocument.agent_id == agent.id, KnowledgeDocument.workspace_id == agent.workspace_id)
    )
    return count or 0


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
