"""A person's sessions, and the workspace's security policy."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.audit.service import DataValue
from hushdesk.identity.models import WebSession
from hushdesk.identity.permissions import Permission
from hushdesk.identity.policy import SecurityPolicy, check_policy, do_set_policy
from hushdesk.identity.sessions import (
    ABSOLUTE_MINUTES_RANGE,
    IDLE_MINUTES_RANGE,
    SignedIn,
    absolute_timeout,
    do_end_session,
    idle_timeout,
)
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import NotFound, ValidationFailed
from hushdesk.web.audit_trail import record_user_event
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()
CsrfField = Annotated[str, Form(max_length=128)]


@router.get(
    "/account/sessions", response_class=HTMLResponse, dependencies=[requires(Permission.ACCOUNT_SELF)]
)
def sessions_page(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    return templates.TemplateResponse(
        request, "sessions.html", {"user": user, "sessions": _live_sessions(db, user)}
    )


@router.post("/account/sessions/{session_id}/end", dependencies=[requires(Permission.ACCOUNT_SELF)])
def end_session(
    request: Request, db: DbSession, user: CurrentUser, session_id: uuid.UUID, csrf_token: CsrfField
) -> Response:
    """End one of the person's own sessions in this workspace (another person's, or one that
    does not exist, is the same 404)."""
    check_csrf(request, csrf_token)
    if session_id not in {row.id for row in _live_sessions(db, user)}:
        raise NotFound()
    do_end_session(db, session_id=session_id)
    record_user_event(
        db, user, "session.revoke", target_kind="web_session", target_id=str(session_id), data={}
    )
    location = "/login" if session_id == user.session_id else "/account/sessions"
    return RedirectResponse(location, status_code=303)


@router.get(
    "/settings/security", response_class=HTMLResponse, dependencies=[requires(Permission.SETTINGS_MANAGE)]
)
def policy_page(request: Request, user: CurrentUser, templates: Templates) -> Response:
    return _policy_form(request, templates, user, SecurityPolicy.of(user.workspace), problem=None)


@router.post(
    "/settings/security",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.SETTINGS_MANAGE, fresh=True)],
)
def policy_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField,
    idle_minutes: Annotated[int, Form(ge=0, le=10**6)],
    absolute_minutes: Annotated[int, Form(ge=0, le=10**6)],
    mfa_required: Annotated[bool, Form()] = False,
    consent_mode: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Save the policy (a fresh second factor first). Each changed field is named in one
    ``settings.security_changed`` event, with its old and new value; bad input re-renders the
    form (422), changing nothing. A form without ``consent_mode`` keeps the current mode."""
    check_csrf(request, csrf_token)
    consent_mode = consent_mode or user.workspace.consent_mode
    try:
        policy = check_policy(
            mfa_required=mfa_required,
            idle_minutes=idle_minutes,
            absolute_minutes=absolute_minutes,
            consent_mode=consent_mode,
        )
    except ValidationFailed as exc:
        entered = SecurityPolicy(mfa_required, idle_minutes, absolute_minutes, consent_mode)
        return _policy_form(request, templates, user, entered, problem=exc.public_message, status_code=422)
    changes = do_set_policy(db, workspace=user.workspace, policy=policy)
    if changes:
        data: dict[str, DataValue] = {}
        for field, (old, new) in changes.items():
            data[f"{field}_from"] = _value(old)
            data[f"{field}_to"] = _value(new)
        record_user_event(
            db,
            user,
            "settings.security_changed",
            target_kind="workspace",
            target_id=str(user.workspace.id),
            data=data,
        )
    return RedirectResponse("/settings/security?saved=1", status_code=303)


def _live_sessions(db: Session, user: SignedIn) -> list[WebSession]:
    now = utcnow()
    rows = db.scalars(
        select(WebSession)
        .where(
            WebSession.user_id == user.user.id,
            WebSession.workspace_id == user.workspace.id,
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
        )
        .order_by(WebSession.last_seen_at.desc())
    )
    idle, absolute = idle_timeout(user.workspace), absolute_timeout(user.workspace)
    return [row for row in rows if row.last_seen_at + idle > now and row.created_at + absolute > now]


def _policy_form(
    request: Request,
    templates: Templates,
    user: SignedIn,
    policy: SecurityPolicy,
    *,
    problem: str | None,
    status_code: int = 200,
) -> Response:
    context = {
        "user": user,
        "policy": policy,
        "problem": problem,
        "saved": request.query_params.get("saved") == "1" and problem is None,
        "idle_range": IDLE_MINUTES_RANGE,
        "absolute_range": ABSOLUTE_MINUTES_RANGE,
    }
    return templates.TemplateResponse(request, "policy.html", context, status_code=status_code)


def _value(value: object) -> DataValue:
    return value if isinstance(value, bool | int | str) else str(value)
