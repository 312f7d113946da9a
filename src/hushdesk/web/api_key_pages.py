"""The API keys page: list the workspace's keys, create one (shown once), revoke one.

Creating and revoking are sensitive (a second factor within the step-up window) and write an
audit event in the request's transaction. The full key is rendered once, on the response to
the form that made it; it is never stored, logged or shown again (every response carries
``Cache-Control: no-store``). A bad form re-renders with the problem and status 422, having
created nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hushdesk.identity.api_keys import (
    access_api_key_by_id,
    creator_names,
    do_create_api_key,
    do_revoke_api_key,
    grantable_scopes,
    list_api_keys,
)
from hushdesk.identity.models import ApiKey
from hushdesk.identity.permissions import INTEGRATION_SCOPES, Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import ValidationFailed
from hushdesk.web.audit_trail import record_user_event
from hushdesk.web.authz import requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf

router = APIRouter()

PAGE_PATH = "/settings/api-keys"
DEFAULT_LIFETIME_DAYS = 90
MIN_LIFETIME_DAYS = 1
MAX_LIFETIME_DAYS = 366
# Bounds on what the form accepts at all; the service applies the real rules with a clear
# message (a name longer than this is refused by request validation, still a 422).
_NAME_INPUT_LIMIT = 1000
_SCOPES_INPUT_LIMIT = 64
_REMOVED_ACCOUNT = "a removed account"

SCOPE_DESCRIPTIONS: dict[Permission, str] = {
    Permission.WORKSPACE_READ: "Read the workspace's name, slug and data region.",
    Permission.MEMBER_READ: "List the team's members and roles.",
    Permission.AGENT_READ: "Read agents and their configuration.",
    Permission.AGENT_WRITE: "Change agents and their configuration.",
    Permission.CONVERSATION_READ: "Read conversations and their transcripts.",
    Permission.CONVERSATION_REPLY: "Reply in conversations handed off to people.",
    Permission.PRIVACY_MANAGE: "Erase and export a customer's data; set retention.",
    Permission.AUDIT_READ: "Read the audit log.",
    Permission.WHATSAPP_WEBHOOK_RECEIVE: "Deliver WhatsApp messages to the workspace's agents.",
    Permission.SMS_WEBHOOK_RECEIVE: "Deliver SMS messages to the workspace's agents.",
    Permission.TELEGRAM_WEBHOOK_RECEIVE: "Deliver Telegram messages to the workspace's agents.",
}


@dataclass(frozen=True, slots=True)
class ScopeChoice:
    value: str
    description: str
    checked: bool


@dataclass(frozen=True, slots=True)
class KeyForm:
    """What the create form shows: blank, or as submitted when it is re-rendered."""

    name: str = ""
    expires_in_days: str = str(DEFAULT_LIFETIME_DAYS)
    scopes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class KeyRow:
    key: ApiKey
    created_by: str
    is_live: bool


@router.get(PAGE_PATH, response_class=HTMLResponse, dependencies=[requires(Permission.API_KEY_MANAGE)])
def api_keys_page(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    return _render_page(request, db, user, templates, form=KeyForm())


@router.post(
    PAGE_PATH,
    response_class=HTMLResponse,
    dependencies=[requires(Permission.API_KEY_MANAGE, fresh=True)],
)
def create_api_key(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: Annotated[str, Form(max_length=128)],
    # No checkbox ticked sends no field at all: an empty list, refused by the service.
    scopes: Annotated[list[str], Form(max_length=_SCOPES_INPUT_LIMIT, default_factory=list)],
    name: Annotated[str, Form(max_length=_NAME_INPUT_LIMIT)] = "",
    expires_in_days: Annotated[str, Form(max_length=16)] = str(DEFAULT_LIFETIME_DAYS),
) -> Response:
    """Create a key and show it once. Bad input re-renders the form (422), creating nothing."""
    check_csrf(request, csrf_token)
    form = KeyForm(name=name, expires_in_days=expires_in_days, scopes=frozenset(scopes))
    try:
        days = _check_lifetime_days(expires_in_days)
        created = do_create_api_key(
            db,
            creator=user.principal,
            name=name,
            scopes=scopes,
            expires_at=utcnow() + dt.timedelta(days=days),
        )
    except ValidationFailed as problem:
        return _render_page(
            request, db, user, templates, form=form, problem=problem.public_message, status_code=422
        )
    key = created.key
    record_user_event(
        db,
        user,
        "api_key.created",
        target_kind="api_key",
        target_id=str(key.id),
        data={
            "key_id": str(key.id),
            "prefix": key.prefix,
            "scopes": ",".join(key.scopes),
            "expires_at": key.expires_at.isoformat(),
        },
    )
    return templates.TemplateResponse(
        request,
        "api_key_created.html",
        {"user": user, "key": key, "token": created.token},
        status_code=201,
    )


@router.post(PAGE_PATH + "/{key_id}/revoke", dependencies=[requires(Permission.API_KEY_MANAGE, fresh=True)])
def revoke_api_key(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    key_id: uuid.UUID,
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    """Revoke a key of this workspace; another workspace's is a 404, as a missing one is.
    Idempotent: revoking a revoked key changes nothing and records nothing."""
    check_csrf(request, csrf_token)
    key = access_api_key_by_id(db, user.principal, key_id)
    if do_revoke_api_key(db, key=key):
        record_user_event(
            db,
            user,
            "api_key.revoked",
            target_kind="api_key",
            target_id=str(key.id),
            data={"key_id": str(key.id), "prefix": key.prefix},
        )
    return RedirectResponse(PAGE_PATH, status_code=303)


def _check_lifetime_days(value: str) -> int:
    message = f"Choose an expiry of {MIN_LIFETIME_DAYS} to {MAX_LIFETIME_DAYS} days."
    try:
        days = int(value.strip())
    except ValueError as exc:
        raise ValidationFailed(message) from exc
    if not MIN_LIFETIME_DAYS <= days <= MAX_LIFETIME_DAYS:
        raise ValidationFailed(message)
    return days


def _render_page(
    request: Request,
    db: Session,
    user: SignedIn,
    templates: Templates,
    *,
    form: KeyForm,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    keys = list_api_keys(db, user.principal)
    names = creator_names(db, keys)
    now = utcnow()
    rows = [
        KeyRow(
            key=key,
            created_by=_REMOVED_ACCOUNT
            if key.created_by_id is None
            else names.get(key.created_by_id, _REMOVED_ACCOUNT),
            is_live=key.revoked_at is None and key.expires_at > now,
        )
        for key in keys
    ]
    offered = sorted(grantable_scopes(user.principal), key=lambda scope: scope.value)
    choices = {
        group: [
            ScopeChoice(scope.value, SCOPE_DESCRIPTIONS.get(scope, scope.value), scope.value in form.scopes)
            for scope in offered
            if (scope in INTEGRATION_SCOPES) == (group == "integration")
        ]
        for group in ("general", "integration")
    }
    return templates.TemplateResponse(
        request,
        "api_keys.html",
        {
            "user": user,
            "rows": rows,
            "form": form,
            "problem": problem,
            "general_scopes": choices["general"],
            "integration_scopes": choices["integration"],
            "min_days": MIN_LIFETIME_DAYS,
            "max_days": MAX_LIFETIME_DAYS,
        },
        status_code=status_code,
    )
