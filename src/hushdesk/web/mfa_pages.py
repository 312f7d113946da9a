"""The second factor in the dashboard: the sign-in step after a password, enrolling and
removing an authenticator app (TOTP, with a QR code drawn on the server as SVG), recovery
codes, and the step-up that sensitive actions ask for.

Passkeys have their own routes (``web/passkey_pages.py``); these pages include its partials.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from hushdesk.identity.mfa import (
    InvalidTotpCode,
    MfaAlreadyEnabled,
    do_begin_totp_enrolment,
    do_confirm_totp,
    do_regenerate_recovery_codes,
    do_remove_totp,
    has_confirmed_totp,
    recovery_codes_left,
    use_recovery_code,
    verify_totp,
)
from hushdesk.identity.passkeys import passkeys_of
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn, csrf_token_for, do_complete_second_factor
from hushdesk.identity.throttle import (
    do_clear_second_factor_failures,
    do_record_second_factor_failure,
    second_factor_retry_after,
)
from hushdesk.identity.totp import secret_to_base32
from hushdesk.web.audit_trail import record_user_event, recorder
from hushdesk.web.authz import Stage, requires
from hushdesk.web.deps import CurrentUser, DbSession, Templates
from hushdesk.web.origin import check_csrf
from hushdesk.web.request_context import client_address
from hushdesk.web.session_cookie import set_session_cookie

router = APIRouter()

_VERIFYING = frozenset({Stage.AWAITING_SECOND_FACTOR})
_ENROLLING = frozenset({Stage.ENROLLING})
Method = Literal["totp", "recovery"]
CsrfField = Annotated[str, Form(max_length=128)]
CodeField = Annotated[str, Form(max_length=64)]


# -- the sign-in step --------------------------------------------------------------------------


@router.get(
    "/login/verify",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.ACCOUNT_SELF, stages=_VERIFYING)],
)
def verify_form(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    if not user.awaiting_second_factor:
        return RedirectResponse("/dashboard", status_code=303)
    return _factor_page(request, db, templates, user, "verify.html", problem=None)


@router.post(
    "/login/verify",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.ACCOUNT_SELF, stages=_VERIFYING)],
)
def verify_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField,
    code: CodeField,
    method: Annotated[Method, Form()] = "totp",
) -> Response:
    """The second factor after a password. Wrong codes are counted per account (not per
    address) and slowed down with growing delays; a right one completes the session, whose id
    rotates."""
    check_csrf(request, csrf_token)
    if not user.awaiting_second_factor:
        return RedirectResponse("/dashboard", status_code=303)
    problem = _check_second_factor(request, db, user, method=method, code=code)
    if problem is not None:
        return problem.render(request, db, templates, user, "verify.html")
    record_user_event(db, user, "auth.login", data={"address": client_address(request), "method": method})
    return _completed(request, db, user, location="/dashboard")


# -- step-up for sensitive actions -------------------------------------------------------------


@router.get("/account/step-up", response_class=HTMLResponse, dependencies=[requires(Permission.ACCOUNT_SELF)])
def step_up_form(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    next_path: Annotated[str, Query(alias="next", max_length=512)] = "/dashboard",
) -> Response:
    return _factor_page(
        request, db, templates, user, "step_up.html", problem=None, next_path=local_path(next_path)
    )


@router.post(
    "/account/step-up", response_class=HTMLResponse, dependencies=[requires(Permission.ACCOUNT_SELF)]
)
def step_up_submit(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField,
    code: CodeField,
    method: Annotated[Method, Form()] = "totp",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "/dashboard",
) -> Response:
    check_csrf(request, csrf_token)
    target = local_path(next_path)
    problem = _check_second_factor(request, db, user, method=method, code=code)
    if problem is not None:
        return problem.render(request, db, templates, user, "step_up.html", next_path=target)
    record_user_event(db, user, "auth.step_up", data={"method": method})
    return _completed(request, db, user, location=target)


# -- the account's second factors --------------------------------------------------------------


@router.get(
    "/account/security",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ENROLLING)],
)
def security(request: Request, db: DbSession, user: CurrentUser, templates: Templates) -> Response:
    return _security_page(request, db, templates, user)


@router.post(
    "/account/totp",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ENROLLING)],
)
def totp_begin(
    request: Request, db: DbSession, user: CurrentUser, templates: Templates, csrf_token: CsrfField
) -> Response:
    """Start setting up an authenticator app: a new secret, shown as a QR code and as text.
    Adding a factor is a way to keep access, so it needs a recent second factor, or for the
    first one a recent sign-in (``SignedIn.check_may_add_second_factor``)."""
    check_csrf(request, csrf_token)
    user.check_may_add_second_factor()
    try:
        enrolment = do_begin_totp_enrolment(db, user=user.user, workspace_id=user.workspace.id)
    except MfaAlreadyEnabled as exc:
        return _security_page(request, db, templates, user, problem=exc.public_message, status_code=409)
    return _security_page(
        request,
        db,
        templates,
        user,
        enrolment={
            "factor_id": str(enrolment.factor_id),
            "secret": _grouped(secret_to_base32(enrolment.secret)),
            "qr_svg": qr_svg(enrolment.provisioning_uri),
        },
    )


@router.post(
    "/account/totp/confirm",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ENROLLING)],
)
def totp_confirm(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    csrf_token: CsrfField,
    factor_id: Annotated[uuid.UUID, Form()],
    code: CodeField,
) -> Response:
    """Confirm the app with a code from it; the recovery codes are shown this once. The code
    counts as the second factor of this session, whose id rotates."""
    check_csrf(request, csrf_token)
    try:
        codes = do_confirm_totp(db, user_id=user.user.id, factor_id=factor_id, code=code, record=recorder(db))
    except InvalidTotpCode as exc:
        return _security_page(request, db, templates, user, problem=exc.public_message, status_code=422)
    secret = do_complete_second_factor(db, session_id=user.session_id)
    # The page's forms must carry the CSRF token of the new session id.
    rotated = dataclasses.replace(user, csrf_token=csrf_token_for(secret))
    response = templates.TemplateResponse(
        request, "recovery_codes.html", {"user": rotated, "codes": codes, "fresh_setup": True}
    )
    set_session_cookie(request, response, secret)
    return response


@router.post("/account/totp/remove", dependencies=[requires(Permission.ACCOUNT_SELF, fresh=True)])
def totp_remove(request: Request, db: DbSession, user: CurrentUser, csrf_token: CsrfField) -> Response:
    check_csrf(request, csrf_token)
    do_remove_totp(db, user_id=user.user.id, record=recorder(db))
    return RedirectResponse("/account/security", status_code=303)


@router.post(
    "/account/recovery-codes",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.ACCOUNT_SELF, fresh=True)],
)
def recovery_codes_regenerate(
    request: Request, db: DbSession, user: CurrentUser, templates: Templates, csrf_token: CsrfField
) -> Response:
    check_csrf(request, csrf_token)
    codes = do_regenerate_recovery_codes(db, user_id=user.user.id, record=recorder(db))
    return templates.TemplateResponse(
        request, "recovery_codes.html", {"user": user, "codes": codes, "fresh_setup": False}
    )


# -- shared ------------------------------------------------------------------------------------


def qr_svg(data: str) -> Markup:
    """A QR code of ``data`` as inline SVG, drawn here: the secret never goes to an outside
    service. segno writes only path geometry (no text from ``data``), so it is safe markup."""
    svg = segno.make(data, error="m").svg_inline(scale=4, border=2, dark="#1d2430", light="#ffffff")
    return Markup(svg)  # noqa: S704 (generated geometry, see the docstring)


def local_path(candidate: str) -> str:
    """``candidate`` if it is a path on this site, else the dashboard (no open redirect)."""
    if candidate.startswith("/") and not candidate.startswith("//") and "\\" not in candidate:
        return candidate
    return "/dashboard"


class _Problem:
    def __init__(self, message: str, status_code: int, headers: dict[str, str] | None = None) -> None:
        self.message = message
        self.status_code = status_code
        self.headers = headers

    def render(
        self,
        request: Request,
        db: Session,
        templates: Templates,
        user: SignedIn,
        template: str,
        next_path: str | None = None,
    ) -> Response:
        return _factor_page(
            request,
            db,
            templates,
            user,
            template,
            problem=self.message,
            next_path=next_path,
            status_code=self.status_code,
            headers=self.headers,
        )


def _check_second_factor(
    request: Request, db: Session, user: SignedIn, *, method: Method, code: str
) -> _Problem | None:
    """None when ``code`` is a right TOTP code or an unused recovery code of the user; else the
    problem to show. Failures are counted, and the wait they earn is enforced first."""
    user_id = user.user.id
    wait = second_factor_retry_after(db, user_id=user_id)
    if wait > dt.timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        return _Problem(
            f"Too many attempts. Try again in {seconds} seconds.", 429, {"Retry-After": str(seconds)}
        )
    if method == "totp":
        ok = verify_totp(db, user_id=user_id, code=code)
    else:
        ok = use_recovery_code(db, user_id=user_id, code=code, record=recorder(db))
    if not ok:
        do_record_second_factor_failure(db, user_id=user_id)
        record_user_event(
            db, user, "auth.second_factor_failed", data={"address": client_address(request), "method": method}
        )
        return _Problem("That code is not right. Try the next one from your app, or a recovery code.", 401)
    do_clear_second_factor_failures(db, user_id=user_id)
    return None


def _completed(request: Request, db: Session, user: SignedIn, *, location: str) -> Response:
    response = RedirectResponse(location, status_code=303)
    set_session_cookie(request, response, do_complete_second_factor(db, session_id=user.session_id))
    return response


def _factor_page(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    template: str,
    *,
    problem: str | None,
    next_path: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {
        "user": user,
        "problem": problem,
        "has_totp": has_confirmed_totp(db, user_id=user.user.id),
        "has_passkeys": bool(passkeys_of(db, user_id=user.user.id)),
        "next_path": next_path,
    }
    return templates.TemplateResponse(request, template, context, status_code=status_code, headers=headers)


def _security_page(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    *,
    enrolment: dict[str, object] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "user": user,
        "has_totp": has_confirmed_totp(db, user_id=user.user.id),
        "recovery_codes_left": recovery_codes_left(db, user_id=user.user.id),
        "passkeys": passkeys_of(db, user_id=user.user.id),
        "enrolment": enrolment,
        "problem": problem,
    }
    return templates.TemplateResponse(request, "security.html", context, status_code=status_code)


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
