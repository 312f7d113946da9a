"""The dashboard's pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from hushdesk.identity.models import Membership
from hushdesk.identity.permissions import Permission
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates

router = APIRouter()


@router.get("/dashboard", response_class=HTMLResponse, dependencies=[requires(Permission.ACCOUNT_SELF)])
def dashboard(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    members = db.scalar(
        select(func.count()).select_from(Membership).where(Membership.workspace_id == user.workspace.id)
    )
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {"user": user, "workspace": user.workspace, "member_count": members},
    )
