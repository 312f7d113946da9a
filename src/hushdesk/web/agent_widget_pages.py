"""The website widget on an agent's page: the embed snippet, the allowed domains, the requests
refused for their origin, and the identity secret.

What anyone who may read the agent sees (``agent:read``): the snippet (its key is public), the
domains, the refusals of the last 30 days, and whether identity verification is on. Making a
new identity secret or removing it is ``agent:write`` with a second factor presented within
the step-up window, like the other sensitive agent actions. A new secret is rendered once, on
the response to the form that made it (``Cache-Control: no-store``); no page ever shows a
stored one. The domains themselves are edited with the agent's settings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor
from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_id
from hushdesk.audit.models import ActorKind
from hushdesk.channels.widget.identity import MAX_LIFETIME
from hushdesk.channels.widget.identity_secret import (
    do_remove_identity_secret,
    do_rotate_identity_secret,
    has_identity_secret,
)
from hushdesk.channels.widget.snippet import (
    IDENTITY_SIGNING_EXAMPLE,
    embed_snippet,
    identified_embed_snippet,
)
from hushdesk.conversations.refusals import DAYS_SHOWN, refusal_summary
from hushdesk.identity.permissions import Permission
from hushdesk.web.authz import requires
from hushdesk.web.deps import AppSettings, CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()

CsrfField = Annotated[str, Form(max_length=128)]
# What the example snippet shows where the business's own page template puts the token.
USER_TOKEN_PLACEHOLDER = "TOKEN_SIGNED_BY_YOUR_SERVER"  # noqa: S105 -- a placeholder, not a token


@dataclass(frozen=True, slots=True)
class WidgetPanel:
    """The widget card of the agent's page. ``last_refused_origin`` is whatever a refused
    caller sent (cut and made printable when it was counted): the template escapes it."""

    snippet: str
    allowed_domains: tuple[str, ...]
    identity_verification: bool
    refused_count: int
    refused_days: int
    last_refused_origin: str | None
    last_refused_at: dt.datetime | None


def widget_panel(db: Session, *, agent: Agent, base_url: str) -> WidgetPanel:
    """The widget card of ``agent`` (obtained through an access function, which scoped it to
    the principal's workspace; the refusals are read under the same workspace)."""
    count, latest = refusal_summary(db, workspace_id=agent.workspace_id, agent_id=agent.id)
    return WidgetPanel(
        snippet=embed_snippet(base_url=base_url, widget_key=agent.widget_key),
        allowed_domains=tuple(agent.allowed_domains),
        identity_verification=has_identity_secret(agent),
        refused_count=count,
        refused_days=DAYS_SHOWN,
        last_refused_origin=latest.last_origin if latest is not None else None,
        last_refused_at=latest.last_at if latest is not None else None,
    )


@router.post(
    "/agents/{agent_id}/identity-secret",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE, fresh=True)],
)
def create_identity_secret(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    settings: AppSettings,
    csrf_token: CsrfField = "",
) -> Response:
    """Make a new identity secret (replacing any other, which stops verifying at once) and
    show it this once, with how to sign a user token with it. Audited by the service."""
    check_csrf(request, csrf_token)
    found = access_agent_by_id(db, user.principal, agent_id)
    secret = do_rotate_identity_secret(db, found, actor=Actor(ActorKind.USER, str(user.user.id)))
    context = {
        "user": user,
        "agent": found,
        "secret": secret,
        "signing_example": IDENTITY_SIGNING_EXAMPLE,
        "max_lifetime_minutes": int(MAX_LIFETIME.total_seconds() // 60),
        "identified_snippet": identified_embed_snippet(
            base_url=settings.base_url, widget_key=found.widget_key, user_token=USER_TOKEN_PLACEHOLDER
        ),
    }
    return templates.TemplateResponse(
        request,
        "agent_identity_secret.html",
        context,
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/agents/{agent_id}/identity-secret/delete",
    dependencies=[requires(Permission.AGENT_WRITE, fresh=True)],
)
def remove_identity_secret(
    request: Request, agent_id: uuid.UUID, db: DbSession, user: CurrentUser, csrf_token: CsrfField = ""
) -> Response:
    """Turn identity verification off: the secret is removed and session requests carrying a
    user token are refused. Idempotent (nothing is audited when there was no secret)."""
    check_csrf(request, csrf_token)
    found = access_agent_by_id(db, user.principal, agent_id)
    do_remove_identity_secret(db, found, actor=Actor(ActorKind.USER, str(user.user.id)))
    return RedirectResponse(f"/agents/{found.id}?identity_removed=1#widget-heading", status_code=303)
