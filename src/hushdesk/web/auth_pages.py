"""Sign-in and sign-out pages."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hushdesk.identity.login import authenticate
from hushdesk.identity.passwords import MAX_PASSWORD_LENGTH
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import (
    do_end_all_sessions,
    do_end_session,
    do_end_session_by_secret,
    do_start_session,
)
from hushdesk.identity.throttle import do_record_failure, do_record_success, retry_after
from hushdesk.web.authz import PUBLIC, requires
from hushdesk.web.deps import (
    CurrentUser,
    DbSession,
    OptionalUser,
    Templates,
    session_cookie_name,
    session_secret,
)
from hushdesk.web.origin import check_csrf, check_same_origin
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
    address = request.client.host if request.client else "unknown"
    wait = retry_after(db, email=email, address=address)
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
        return templates.TemplateResponse(
            request,
            "login.html",
            {"problem": "That email and password do not match an account.", "email": email},
            status_code=401,
        )
    do_record_success(db, email=email, address=address)
    previous = session_secret(request)
    if previous:
        do_end_session_by_secret(db, secret=previous)
    secret = do_start_session(db, user_id=found.user.id, workspace_id=found.membership.workspace_id)
    response = RedirectResponse("/dashboard", status_code=303)
    set_session_cookie(
        response, name=session_cookie_name(request), secret=secret, secure=request.url.scheme == "https"
    )
    return response


@router.post("/logout", dependencies=[requires(Permission.ACCOUNT_SELF)])
def logout(
    request: Request, db: DbSession, user: CurrentUser, csrf_token: Annotated[str, Form(max_length=128)]
) -> Response:
    check_csrf(request, csrf_token)
    do_end_session(db, session_id=user.session_id)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, name=session_cookie_name(request), secure=request.url.scheme == "https")
    return response


@router.post("/logout/everywhere", dependencies=[requires(Permission.ACCOUNT_SELF)])
def logout_everywhere(
    request: Request, db: DbSession, user: CurrentUser, csrf_token: Annotated[str, Form(max_length=128)]
) -> Response:
    """End every session of this account, on every device, this one included."""
    check_csrf(request, csrf_token)
    do_end_all_sessions(db, user_id=user.user.id)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, name=session_cookie_name(request), secure=request.url.scheme == "https")
    return response
