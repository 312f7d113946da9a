"""Sign-in and sign-out pages."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.identity.login import account_has_second_factor, authenticate, first_membership_of
from hushdesk.identity.passwords import MAX_PASSWORD_LENGTH
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import (
    do_end_all_sessions,
    do_end_session,
    do_end_session_by_secret,
    do_start_session,
)
from hushdesk.identity.throttle import do_record_failure, do_record_success, retry_after
from hushdesk.infra.text import without_control_characters
from hushdesk.web.audit_trail import record_user_event
from hushdesk.web.authz import PUBLIC, Stage, requires
from hushdesk.web.deps import (
    CurrentUser,
    DbSession,
    OptionalUser,
    Templates,
    session_secret,
)
from hushdesk.web.origin import check_csrf, check_same_origin
from hushdesk.web.request_context import client_address
from hushdesk.web.session_cookie import clear_session_cookie, set_session_cookie

router = APIRouter()


@router.get("/", include_in_schema=False, dependencies=[PUBLIC])
def home(user: OptionalUser) -> Response:
    return RedirectResponse("/dashboard" if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
def login_form(request: Request, templates: Templates, user: OptionalUser) -> Response:
    if user is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"problem": None, "email": ""})


@router.post("/login", response_class=HTMLResponse, dependencies=[PUBLIC])
def login_submit(
    request: Request,
    db: DbSession,
    templates: Templates,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
) -> Response:
    check_same_origin(request)
    # No stored address holds a control character; replaced, the lookup simply finds nobody
    # (PostgreSQL would refuse a NUL in the query outright).
    email = without_control_characters(email)
    address = client_address(request)
    wait = retry_after(db, email=email, address=address, lock=True)
    if wait > dt.timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        return templates.TemplateResponse(
            request,
            "login.html",
            {"problem": f"Too many attempts. Try again in {seconds} seconds.", "email": email},
            status_code=429,
            headers={"Retry-After": str(seconds)},
        )
    found = authenticate(db, email=email, password=password)
    if found is None:
        do_record_failure(db, email=email, address=address)
        membership = first_membership_of(db, email=email)
        # Unknown accounts go to the instance chain, with no trace of what was typed.
        do_record_event(
            db,
            workspace_id=membership.workspace_id if membership else None,
            actor_kind=ActorKind.USER,
            actor_id=str(membership.user_id) if membership else None,
            action="auth.login_failed",
            data={"address": address},
        )
        return templates.TemplateResponse(
            request,
            "login.html",
            {"problem": "That email and password do not match an account.", "email": email},
            status_code=401,
        )
    do_record_success(db, email=email, address=address)
    # A second factor, where the account has one, comes before the session is complete. The
    # sign-in is recorded when it is complete (here, or at the second-factor step).
    awaiting = account_has_second_factor(db, user_id=found.user.id)
    if not awaiting:
        do_record_event(
            db,
            workspace_id=found.membership.workspace_id,
            actor_kind=ActorKind.USER,
            actor_id=str(found.user.id),
            action="auth.login",
            data={"address": address, "method": "password"},
        )
    previous = session_secret(request)
    if previous:
        do_end_session_by_secret(db, secret=previous)
    secret = do_start_session(
        db,
        user_id=found.user.id,
        workspace_id=found.membership.workspace_id,
        awaiting_second_factor=awaiting,
        user_agent=request.headers.get("user-agent"),
        address=address,
    )
    response = RedirectResponse("/login/verify" if awaiting else "/dashboard", status_code=303)
    set_session_cookie(request, response, secret)
    return response


_ANY_STAGE = frozenset({Stage.AWAITING_SECOND_FACTOR, Stage.ENROLLING})


@router.post("/logout", dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ANY_STAGE)])
def logout(
    request: Request, db: DbSession, user: CurrentUser, csrf_token: Annotated[str, Form(max_length=128)]
) -> Response:
    check_csrf(request, csrf_token)
    do_end_session(db, session_id=user.session_id)
    record_user_event(db, user, "auth.logout")
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response


@router.post("/logout/everywhere", dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ANY_STAGE)])
def logout_everywhere(
    request: Request, db: DbSession, user: CurrentUser, csrf_token: Annotated[str, Form(max_length=128)]
) -> Response:
    """End every session of this account, on every device, this one included."""
    check_csrf(request, csrf_token)
    ended = do_end_all_sessions(db, user_id=user.user.id)
    record_user_event(db, user, "session.revoke_all", data={"sessions": ended})
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(request, response)
    return response
