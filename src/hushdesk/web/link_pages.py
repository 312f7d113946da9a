"""The one-time links' public pages: accepting an invitation (``/invite/{token}``) and
setting a password from a reset link (``/reset/{token}``); and a member changing their own
password (``/account/password``).

The links are made, and shown once, by the team pages (``web/team_pages.py``); the rules live
in ``hushdesk.identity.invitations`` and ``hushdesk.identity.password_reset``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent
from hushdesk.agents.service import do_set_assignments
from hushdesk.identity.invitations import (
    AcceptedInvitation,
    AccountExists,
    AccountPasswordMismatch,
    NoAccountYet,
    access_invitation,
    account_for,
    do_accept_as_existing_account,
    do_accept_as_new_account,
    workspace_of,
)
from hushdesk.identity.login import account_has_second_factor
from hushdesk.identity.password_reset import (
    CurrentPasswordMismatch,
    access_password_reset,
    account_of,
    do_change_password,
    do_reset_password,
)
from hushdesk.identity.passwords import MAX_PASSWORD_LENGTH, WeakPasswordError
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import user_principal
from hushdesk.identity.sessions import SignedIn, do_end_session_by_secret, do_start_session
from hushdesk.identity.throttle import do_record_failure, do_record_success, retry_after
from hushdesk.infra.errors import HushdeskError, RateLimited, ValidationFailed
from hushdesk.web.audit_trail import record_assignments, recorder
from hushdesk.web.authz import PUBLIC, requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates, session_secret
from hushdesk.web.origin import check_csrf, check_same_origin
from hushdesk.web.request_context import client_address
from hushdesk.web.session_cookie import set_session_cookie

router = APIRouter()

CsrfField = Annotated[str, Form(max_length=128)]
PasswordField = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]
_NO_STORE = {"Cache-Control": "no-store"}


# -- accepting an invitation (public: the link is the credential) ------------------------------


@router.get("/invite/{token}", response_class=HTMLResponse, dependencies=[PUBLIC])
def invitation_form(request: Request, token: str, db: DbSession, templates: Templates) -> Response:
    invitation = access_invitation(db, token)
    return _invitation_page(request, db, templates, token, existing=account_for(db, invitation) is not None)


@router.post("/invite/{token}", response_class=HTMLResponse, dependencies=[PUBLIC])
def invitation_submit(
    request: Request,
    token: str,
    db: DbSession,
    templates: Templates,
    password: PasswordField,
    display_name: Annotated[str, Form(max_length=200)] = "",
    password_confirm: PasswordField = "",
) -> Response:
    """Join the workspace. The address is the invitation's, never the form's: with no account
    for it, the form names and protects the new account; with one, it proves the account by
    its password (throttled as a sign-in)."""
    check_same_origin(request)
    invitation = access_invitation(db, token)
    if account_for(db, invitation) is not None:
        outcome = _join_existing_account(request, db, templates, token, invitation.email, password)
    else:
        outcome = _join_new_account(request, db, templates, token, display_name, password, password_confirm)
    if isinstance(outcome, Response):
        return outcome
    _assign_invited_agents(db, outcome)
    return _signed_in_as(request, db, outcome)


def _join_existing_account(
    request: Request, db: Session, templates: Templates, token: str, email: str, password: str
) -> AcceptedInvitation | Response:
    """Accept for the account that has the invited address, or the form again (wrong password,
    throttled like a sign-in)."""
    address = client_address(request)
    wait = retry_after(db, email=email, address=address, lock=True)
    if wait > dt.timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        problem = RateLimited(f"Too many attempts. Try again in {seconds} seconds.")
        headers = {"Retry-After": str(seconds)}
        return _invitation_page(
            request, db, templates, token, existing=True, problem=problem, headers=headers
        )
    try:
        accepted = do_accept_as_existing_account(db, token=token, password=password, record=recorder(db))
    except AccountPasswordMismatch as exc:
        do_record_failure(db, email=email, address=address)
        return _invitation_page(request, db, templates, token, existing=True, problem=exc)
    except NoAccountYet as exc:
        return _invitation_page(request, db, templates, token, existing=False, problem=exc)
    do_record_success(db, email=email, address=address)
    return accepted


def _join_new_account(
    request: Request,
    db: Session,
    templates: Templates,
    token: str,
    display_name: str,
    password: str,
    password_confirm: str,
) -> AcceptedInvitation | Response:
    """Accept by creating the account for the invited address, or the form again."""
    problem: HushdeskError
    if password != password_confirm:
        problem = ValidationFailed("The two passwords differ.")
        return _invitation_page(request, db, templates, token, problem=problem, name=display_name)
    try:
        return do_accept_as_new_account(
            db, token=token, display_name=display_name, password=password, record=recorder(db)
        )
    except ValidationFailed as exc:
        problem = exc
    except WeakPasswordError as exc:
        problem = ValidationFailed(str(exc))
    except AccountExists as exc:
        return _invitation_page(request, db, templates, token, existing=True, problem=exc)
    return _invitation_page(request, db, templates, token, problem=problem, name=display_name)


# -- password reset links (public) and changing one's own password ------------------------------


@router.get("/reset/{token}", response_class=HTMLResponse, dependencies=[PUBLIC])
def reset_form(request: Request, token: str, db: DbSession, templates: Templates) -> Response:
    return _reset_page(request, db, templates, token)


@router.post("/reset/{token}", response_class=HTMLResponse, dependencies=[PUBLIC])
def reset_submit(
    request: Request,
    token: str,
    db: DbSession,
    templates: Templates,
    password: PasswordField,
    password_confirm: PasswordField,
) -> Response:
    """Set a new password; every session of the account ends, and it signs in afresh."""
    check_same_origin(request)
    if password != password_confirm:
        return _reset_page(request, db, templates, token, problem="The two passwords differ.")
    try:
        do_reset_password(db, token=token, password=password, record=recorder(db))
    except WeakPasswordError as exc:
        return _reset_page(request, db, templates, token, problem=str(exc))
    return RedirectResponse("/login", status_code=303)


@router.get(
    "/account/password", response_class=HTMLResponse, dependencies=[requires(Permission.ACCOUNT_SELF)]
)
def password_form(
    request: Request,
    user: CurrentUser,
    templates: Templates,
    changed: Annotated[bool, Query()] = False,
) -> Response:
    return templates.TemplateResponse(request, "password_change.html", {"user": user, "changed": changed})


@router.post(
    "/account/password", response_class=HTMLResponse, dependencies=[requires(Permission.ACCOUNT_SELF)]
)
def password_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    current_password: PasswordField,
    new_password: PasswordField,
    new_password_confirm: PasswordField,
    csrf_token: CsrfField = "",
) -> Response:
    """Change one's own password: other sessions end, this one's id rotates. A wrong current
    password counts as a failed sign-in."""
    check_csrf(request, csrf_token)
    address = client_address(request)
    email = user.user.email
    wait = retry_after(db, email=email, address=address, lock=True)
    if wait > dt.timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        problem = f"Too many attempts. Try again in {seconds} seconds."
        return _password_page(request, templates, user, problem, 429, {"Retry-After": str(seconds)})
    if new_password != new_password_confirm:
        return _password_page(request, templates, user, "The two new passwords differ.", 422)
    try:
        change = do_change_password(
            db,
            user=user.user,
            session_id=user.session_id,
            workspace_id=user.workspace.id,
            current_password=current_password,
            new_password=new_password,
            record=recorder(db),
        )
    except CurrentPasswordMismatch as exc:
        do_record_failure(db, email=email, address=address)
        return _password_page(request, templates, user, exc.public_message, exc.status)
    except ValidationFailed as exc:
        return _password_page(request, templates, user, exc.public_message, 422)
    except WeakPasswordError as exc:
        return _password_page(request, templates, user, str(exc), 422)
    do_record_success(db, email=email, address=address)
    response = RedirectResponse("/account/password?changed=true", status_code=303)
    set_session_cookie(request, response, change.session_secret)
    return response


# -- rendering ------------------------------------------------------------------------------------


def _invitation_page(
    request: Request,
    db: Session,
    templates: Templates,
    token: str,
    *,
    existing: bool = False,
    problem: HushdeskError | None = None,
    name: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    invitation = access_invitation(db, token)
    context = {
        "invitation": invitation,
        "workspace": workspace_of(db, invitation),
        "existing": existing,
        "problem": problem.public_message if problem else None,
        "name": name,
    }
    status = problem.status if problem else 200
    return templates.TemplateResponse(
        request, "invite_accept.html", context, status_code=status, headers={**_NO_STORE, **(headers or {})}
    )


def _reset_page(
    request: Request, db: Session, templates: Templates, token: str, *, problem: str | None = None
) -> Response:
    reset = access_password_reset(db, token)
    context = {"person": account_of(db, reset), "problem": problem}
    return templates.TemplateResponse(
        request, "password_reset.html", context, status_code=422 if problem else 200, headers=_NO_STORE
    )


def _password_page(
    request: Request,
    templates: Templates,
    user: SignedIn,
    problem: str,
    status: int,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {"user": user, "changed": False, "problem": problem}
    return templates.TemplateResponse(
        request, "password_change.html", context, status_code=status, headers=headers
    )


# -- helpers --------------------------------------------------------------------------------------


def _assign_invited_agents(db: Session, accepted: AcceptedInvitation) -> None:
    """Assign the invitation's agents that still exist in its workspace."""
    membership = accepted.membership
    if not accepted.agent_ids:
        return
    existing = db.scalars(
        select(Agent.id).where(
            Agent.workspace_id == membership.workspace_id, Agent.id.in_(accepted.agent_ids)
        )
    ).all()
    principal = user_principal(
        workspace_id=membership.workspace_id,
        user_id=accepted.user.id,
        membership_id=membership.id,
        role=membership.role,
    )
    added, removed = do_set_assignments(db, principal, membership=membership, agent_ids=existing)
    record_assignments(db, actor_id=accepted.user.id, membership=membership, added=added, removed=removed)


def _signed_in_as(request: Request, db: Session, accepted: AcceptedInvitation) -> Response:
    """Start the new member's session (replacing whatever session this browser had) and go to
    the dashboard, or first to the second-factor step for an account that has one."""
    previous = session_secret(request)
    if previous:
        do_end_session_by_secret(db, secret=previous)
    awaiting = account_has_second_factor(db, user_id=accepted.user.id)
    secret = do_start_session(
        db,
        user_id=accepted.user.id,
        workspace_id=accepted.membership.workspace_id,
        awaiting_second_factor=awaiting,
        user_agent=request.headers.get("user-agent"),
        address=client_address(request),
    )
    response = RedirectResponse("/login/verify" if awaiting else "/dashboard", status_code=303)
    set_session_cookie(request, response, secret)
    return response
