"""The widget's iframe page (``GET /widget/v1/frame/{widget_key}``), served from our origin so
that the host page's scripts cannot read the conversation, and framable only by the agent's
allowed domains (CSP ``frame-ancestors``; X-Frame-Options cannot list sites, so it is left off
this one page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hushdesk.channels.widget.origins import frame_ancestors
from hushdesk.channels.widget.sessions import agent_by_widget_key
from hushdesk.conversations.consent import notice_text
from hushdesk.conversations.service import MAX_MESSAGE_CHARS
from hushdesk.settings import Settings
from hushdesk.web.authz import PUBLIC
from hushdesk.web.deps import DbSession, Templates
from hushdesk.workspaces.models import Workspace

router = APIRouter(prefix="/widget/v1")


def frame_policy(ancestors: str) -> str:
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


@router.get("/frame/{widget_key}", response_class=HTMLResponse, dependencies=[PUBLIC])
def frame(request: Request, widget_key: str, db: DbSession, templates: Templates) -> Response:
    """The chat itself. It holds nothing about any visitor: the conversation arrives through
    the API once the frame has exchanged its bootstrap token."""
    settings: Settings = request.app.state.settings
    agent = agent_by_widget_key(db, widget_key)

    workspace = db.get_one(Workspace, agent.workspace_id)
    response = templates.TemplateResponse(
        request,
        "widget_frame.html",
        {
            "agent_name": agent.name,
            "greeting": agent.greeting,
            "consent_notice": notice_text(agent),
            "consent_mode": workspace.consent_mode,
            "consent_version": agent.config_version,
            "widget_key": agent.widget_key,
            "api_base": "/widget/v1",
            "max_message_chars": MAX_MESSAGE_CHARS,
        },
    )
    response.headers["content-security-policy"] = frame_policy(
        frame_ancestors(agent.allowed_domains, allow_http=settings.widget_allows_http_origins)
    )
    return response
