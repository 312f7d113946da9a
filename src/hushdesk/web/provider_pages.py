"""An agent's model provider: what it uses now, what each kind of provider does with the
conversations it is sent, and choosing one.

Reading is ``agent:read``. Changing it is ``agent:write`` with a second factor presented
within the step-up window: the provider decides where customers' messages go. Both go through
``access_agent_by_id``, so a manager reaches only the agents assigned to them and another
workspace's agent is a 404 like a missing one.

A third-party provider needs the admin to acknowledge its data-processing facts, shown here
for every kind; the checkbox of one kind acknowledges that kind only. The API key is written
once into a password field and sealed in the secret store; this page shows whether one is
stored (as ``hushdesk.credentials`` masks it), never the key, and a form shown again with a
problem never carries it back. A refused form changes nothing: the change runs in a savepoint,
so a refusal found half-way through (a key too short to store) undoes what came before it.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr
from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor
from hushdesk.agents.models import Agent
from hushdesk.agents.provider_setup import (
    ProviderChoice,
    do_set_provider,
    facts_acknowledged,
    provider_settings_of,
)
from hushdesk.agents.providers.anthropic_chat import ANTHROPIC_BASE_URL
from hushdesk.agents.providers.base import ProviderKind
from hushdesk.agents.providers.facts import (
    FACTS_VERSION,
    REGION_CODES,
    DataProcessingFacts,
    check_region_allowed,
    facts_for,
)
from hushdesk.agents.providers.openai_chat import OPENAI_BASE_URL, OPENAI_EU_BASE_URL
from hushdesk.agents.providers.registry import (
    MAX_BASE_URL_LENGTH,
    MAX_MODEL_NAME_LENGTH,
    ProviderSettings,
    check_provider_settings,
    needs_api_key,
)
from hushdesk.agents.service import access_agent_by_id
from hushdesk.audit.models import ActorKind
from hushdesk.credentials.service import MAX_SECRET_LENGTH, list_credentials
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import ValidationFailed
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()

# The extractive responder needs no model; its settings still name one.
EXTRACTIVE_MODEL = "extractive"
KIND_LABELS: dict[ProviderKind, str] = {
    ProviderKind.EXTRACTIVE: "Offline answers from the knowledge base (no model)",
    ProviderKind.OPENAI: "OpenAI",
    ProviderKind.AZURE_OPENAI: "Azure OpenAI",
    ProviderKind.ANTHROPIC: "Anthropic",
    ProviderKind.OPENAI_COMPATIBLE: "Your own OpenAI-compatible server",
}
REGION_NAMES = {"eu": "European Union", "us": "United States", "af": "Africa"}

CsrfField = Annotated[str, Form(max_length=128)]
# Bounds on what the form accepts at all, above the services' own limits, so that the
# services answer with their message.
_ShortField = Annotated[str, Form(max_length=4 * MAX_MODEL_NAME_LENGTH)]
_UrlField = Annotated[str, Form(max_length=2 * MAX_BASE_URL_LENGTH)]
_KeyField = Annotated[str, Form(max_length=2 * MAX_SECRET_LENGTH)]
_KindsField = Annotated[list[str], Form(max_length=2 * len(ProviderKind), default_factory=list)]


@dataclass(frozen=True, slots=True)
class ProviderForm:
    """The form as typed: the saved settings, or what was submitted when it is shown again.
    It never holds the API key."""

    kind: str
    model: str
    base_url: str
    api_version: str
    embedding_model: str
    data_region: str
    acknowledged: frozenset[str]

    @classmethod
    def of(cls, agent: Agent, *, workspace_region: str) -> ProviderForm:
        settings = provider_settings_of(agent)
        return cls(
            kind=settings.kind.value,
            # The extractive responder's model name is ours, not one to type.
            model="" if settings.kind is ProviderKind.EXTRACTIVE else settings.model,
            base_url=settings.base_url or "",
            api_version=settings.api_version or "",
            embedding_model=settings.embedding_model or "",
            data_region=settings.data_region or workspace_region,
            acknowledged=frozenset({settings.kind.value} if _acknowledged_third_party(agent) else ()),
        )

    def checked(self) -> ProviderSettings:
        """The settings, checked (``ValidationFailed`` otherwise). The extractive responder is
        given its model name when none is typed; a region is declared for third parties only,
        since the installation decides where the others run."""
        kind = self.kind.strip()
        model = self.model.strip()
        if kind == ProviderKind.EXTRACTIVE.value and not model:
            model = EXTRACTIVE_MODEL
        known = kind in set(ProviderKind)
        third_party = known and facts_for(ProviderKind(kind)).third_party
        return check_provider_settings(
            kind=kind,
            model=model,
            base_url=self.base_url.strip(),
            api_version=self.api_version.strip(),
            embedding_model=self.embedding_model.strip(),
            data_region=self.data_region.strip() if third_party else None,
        )

    def shown_again(self) -> ProviderForm:
        """The form to show with a problem. A base URL with ``@`` in it may carry a password
        (the registry refuses it for that), so it is not put back in the page."""
        if "@" in self.base_url:
            return dataclasses.replace(self, base_url="")
        return self


@dataclass(frozen=True, slots=True)
class KindOption:
    """One kind of provider as the page offers it, with its facts."""

    value: str
    label: str
    facts: DataProcessingFacts
    regions: str
    available_here: bool
    needs_key: bool
    chosen: bool
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class CurrentProvider:
    """What the agent uses now. ``stored_key`` is the credential's mask, or None;
    ``not_ready`` why the agent cannot answer with it (as ``ready_agent`` would refuse), or None."""

    label: str
    model: str
    endpoint: str
    data_region: str
    stored_key: str | None
    not_ready: str | None


def _path(agent_id: uuid.UUID) -> str:
    return f"/agents/{agent_id}/provider"


@router.get(
    "/agents/{agent_id}/provider",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_READ)],
)
def provider_page(
    request: Request, agent_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    agent = access_agent_by_id(db, user.principal, agent_id)
    form = ProviderForm.of(agent, workspace_region=_region(user))
    return _render(request, db, templates, user, agent, form)


@router.post(
    "/agents/{agent_id}/provider",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE, fresh=True)],
)
def set_provider(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    acknowledge: _KindsField,
    kind: _ShortField = "",
    model: _ShortField = "",
    base_url: _UrlField = "",
    api_version: _ShortField = "",
    embedding_model: _ShortField = "",
    data_region: _ShortField = "",
    api_key: _KeyField = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Save the provider (a blank key keeps the stored one, for the same kind). A refusal is
    shown again at 422 without the key, having changed nothing."""
    check_csrf(request, csrf_token)
    agent = access_agent_by_id(db, user.principal, agent_id)
    form = ProviderForm(
        kind, model, base_url, api_version, embedding_model, data_region, frozenset(acknowledge)
    )
    try:
        settings = form.checked()
        choice = ProviderChoice(
            settings=settings,
            api_key=SecretStr(api_key) if api_key.strip() else None,
            acknowledged=settings.kind.value in form.acknowledged,
        )
        with db.begin_nested():
            changed = do_set_provider(
                db,
                agent,
                choice,
                workspace_region=_region(user),
                actor=Actor(ActorKind.USER, str(user.user.id)),
            )
    except ValidationFailed as exc:
        shown = form.shown_again()
        return _render(request, db, templates, user, agent, shown, problem=exc.public_message, status=422)
    outcome = "saved" if changed else "unchanged"
    return RedirectResponse(f"{_path(agent.id)}?{outcome}=1", status_code=303)


def _region(user: SignedIn) -> str:
    return str(user.workspace.region)


def _acknowledged_third_party(agent: Agent) -> bool:
    return facts_for(ProviderKind(agent.provider_kind)).third_party and facts_acknowledged(agent)


def _options(form: ProviderForm, *, workspace_region: str) -> list[KindOption]:
    options = []
    for kind in ProviderKind:
        facts = facts_for(kind)
        options.append(
            KindOption(
                value=kind.value,
                label=KIND_LABELS[kind],
                facts=facts,
                regions=", ".join(REGION_NAMES.get(code, code) for code in facts.regions),
                available_here=check_region_allowed(kind, workspace_region, data_region=workspace_region),
                needs_key=needs_api_key(kind),
                chosen=form.kind == kind.value,
                acknowledged=kind.value in form.acknowledged,
            )
        )
    return options


def _endpoint(settings: ProviderSettings) -> str:
    if settings.kind is ProviderKind.EXTRACTIVE:
        return "None: replies are made inside this installation"
    if settings.kind is ProviderKind.OPENAI:
        return OPENAI_EU_BASE_URL if settings.data_region == "eu" else OPENAI_BASE_URL
    if settings.kind is ProviderKind.ANTHROPIC:
        return ANTHROPIC_BASE_URL
    return settings.base_url or ""


def _current(db: Session, agent: Agent, *, workspace_region: str) -> CurrentProvider:
    settings = provider_settings_of(agent)
    stored_key = None
    if agent.credential_id is not None:
        views = list_credentials(db, workspace_id=agent.workspace_id)
        stored_key = next((view.masked for view in views if view.id == agent.credential_id), None)
    region = settings.data_region
    not_ready = None
    if not check_region_allowed(settings.kind, workspace_region, data_region=region):
        not_ready = "it does not process data in this workspace's region"
    elif not facts_acknowledged(agent):
        not_ready = "its data-processing facts are not acknowledged"
    return CurrentProvider(
        label=KIND_LABELS[settings.kind],
        model=settings.model,
        endpoint=_endpoint(settings),
        data_region=REGION_NAMES.get(region, region) if region else "Decided by this installation",
        stored_key=stored_key,
        not_ready=not_ready,
    )


def _render(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    agent: Agent,
    form: ProviderForm,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    region = _region(user)
    query = request.query_params
    context = {
        "user": user,
        "agent": agent,
        "current": _current(db, agent, workspace_region=region),
        "form": form,
        "options": _options(form, workspace_region=region),
        "regions": [(code, REGION_NAMES.get(code, code)) for code in REGION_CODES],
        "workspace_region": region,
        "workspace_region_name": REGION_NAMES.get(region, region),
        "facts_version": FACTS_VERSION,
        "may_write": user.principal.can(Permission.AGENT_WRITE),
        "problem": problem,
        "saved": query.get("saved") == "1" and problem is None,
        "unchanged": query.get("unchanged") == "1" and problem is None,
    }
    return templates.TemplateResponse(request, "provider.html", context, status_code=status)
