"""Passkey ceremonies for the dashboard: JSON in and out, driven by ``static/passkeys.js``.

Each ceremony is two requests: ``.../options`` issues a single-use challenge and the options
for ``navigator.credentials``; the second request carries the browser's answer. Routes that a
cookie authenticates check the session's CSRF token, sent by the script in the
``X-CSRF-Token`` header, and the origin; the public sign-in routes check the origin and are
throttled like passwords, per address.

A failed ceremony answers with the error as JSON *without* raising, so that the request's
transaction commits what the failure must leave behind (the consumed challenge, the throttle
count, the audit event) and nothing else: the services change nothing else before they fail.

The relying party is this installation's public origin: ``HUSHDESK_PUBLIC_URL`` when it is
set (behind a proxy), else the request's own scheme and host. The RP ID is its host name.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Annotated, Any, NamedTuple
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.identity.passkey_challenges import PasskeyPurpose, PasskeyVerificationFailed
from hushdesk.identity.passkeys import (
    MAX_NAME_LENGTH,
    PasskeyOptions,
    do_begin_passkey_authentication,
    do_begin_passkey_registration,
    do_finish_passkey_registration,
    do_finish_passkey_sign_in,
    do_remove_passkey,
    do_verify_passkey,
)
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import (
    SignedIn,
    do_complete_second_factor,
    do_end_session_by_secret,
    do_start_session,
)
from hushdesk.identity.throttle import do_record_failure, do_record_success, retry_after
from hushdesk.infra.errors import Conflict, HushdeskError
from hushdesk.settings import Settings
from hushdesk.web.audit_trail import record_user_event, recorder
from hushdesk.web.authz import PUBLIC, Stage, requires
from hushdesk.web.deps import CurrentUser, DbSession, session_secret
from hushdesk.web.mfa_pages import local_path
from hushdesk.web.origin import check_csrf, check_same_origin
from hushdesk.web.rate_limits import PASSKEY_SIGN_IN_OPTIONS, enforce
from hushdesk.web.request_context import client_address
from hushdesk.web.session_cookie import set_session_cookie

router = APIRouter()

CSRF_HEADER = "X-CSRF-Token"
# The throttle's "account" for passkey sign-ins: the user is unknown until the answer is
# checked, so failures are counted per address under this pseudo-account.
THROTTLE_ACCOUNT = "passkey"
_ENROLLING = frozenset({Stage.ENROLLING})
_VERIFYING = frozenset({Stage.AWAITING_SECOND_FACTOR})
_NO_STORE = {"Cache-Control": "no-store"}


class RelyingParty(NamedTuple):
    rp_id: str
    origin: str


class _Answer(BaseModel):
    """The browser's answer to a challenge; ``credential`` is the PublicKeyCredential as JSON
    (binary members in base64url), checked by the ``webauthn`` package."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    challenge_id: uuid.UUID
    credential: dict[str, Any]


class RegistrationAnswer(_Answer):
    name: str = Field(default="", max_length=4 * MAX_NAME_LENGTH)


class StepUpAnswer(_Answer):
    next_path: str = Field(default="/dashboard", alias="next", max_length=512)


def relying_party(request: Request) -> RelyingParty:
    """The RP ID (host name, no port) and origin (scheme://host[:port], default port left out)
    the browser must have used: those of ``HUSHDESK_PUBLIC_URL`` when set, else the request's.
    ``request.url`` already reflects X-Forwarded-Proto from a trusted proxy."""
    settings: Settings = request.app.state.settings
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        scheme, host, port = parts.scheme, parts.hostname or "", parts.port
    else:
        scheme, host, port = request.url.scheme, request.url.hostname or "", request.url.port
    shown = f"[{host}]" if ":" in host else host
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = shown if port is None or port == default_port else f"{shown}:{port}"
    return RelyingParty(rp_id=host, origin=f"{scheme}://{netloc}")


def check_csrf_header(request: Request) -> None:
    """``check_csrf`` with the token from the ``X-CSRF-Token`` header (the script's requests
    are JSON, not forms). Raises ``PermissionDenied`` when it is missing or wrong."""
    check_csrf(request, request.headers.get(CSRF_HEADER, ""))


# -- registering a passkey (the account's security page) ---------------------------------------


@router.post("/account/passkeys/options", dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ENROLLING)])
def registration_options(request: Request, db: DbSession, user: CurrentUser) -> Response:
    """Options for adding a passkey. Open to people who must still enrol a second factor (a
    passkey can be their first). Someone who already has one must have presented it recently:
    adding a passkey is a way to keep access to the account."""
    check_csrf_header(request)
    user.check_may_add_second_factor()
    options = do_begin_passkey_registration(db, user=user.user, rp_id=relying_party(request).rp_id)
    return _options(options)


@router.post("/account/passkeys", dependencies=[requires(Permission.ACCOUNT_SELF, stages=_ENROLLING)])
def register(request: Request, db: DbSession, user: CurrentUser, answer: RegistrationAnswer) -> Response:
    """Store the passkey the browser created, sealed under this session's workspace. When it is
    the account's first second factor, this session has just presented it: the session is
    complete and its id rotates (new cookie)."""
    check_csrf_header(request)
    user.check_may_add_second_factor()
    rp = relying_party(request)
    try:
        passkey = do_finish_passkey_registration(
            db,
            user_id=user.user.id,
            workspace_id=user.workspace.id,
            challenge_id=answer.challenge_id,
            credential=answer.credential,
            name=answer.name,
            rp_id=rp.rp_id,
            origin=rp.origin,
            record=recorder(db),
        )
    except PasskeyVerificationFailed as exc:
        return _refused(exc)
    response = _json({"ok": True, "passkey_id": str(passkey.id), "redirect": "/account/security"})
    if not user.has_mfa:
        set_session_cookie(request, response, do_complete_second_factor(db, session_id=user.session_id))
    return response


@router.post(
    "/account/passkeys/{passkey_id}/delete", dependencies=[requires(Permission.ACCOUNT_SELF, fresh=True)]
)
def remove(
    request: Request,
    db: DbSession,
    user: CurrentUser,
    passkey_id: uuid.UUID,
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    """Remove one of the user's passkeys (a form post). Another user's passkey is a 404, as a
    missing one is."""
    check_csrf(request, csrf_token)
    do_remove_passkey(db, user_id=user.user.id, passkey_id=passkey_id, record=recorder(db))
    return RedirectResponse("/account/security", status_code=303)


# -- signing in with a passkey (no password) ---------------------------------------------------


@router.post("/login/passkey/options", dependencies=[PUBLIC])
def sign_in_options(request: Request, db: DbSession) -> Response:
    check_same_origin(request)
    # Each call writes a challenge row before anyone is known: bounded per address.
    enforce(request, PASSKEY_SIGN_IN_OPTIONS, client_address(request))
    waiting = _throttled(db, request)
    if waiting is not None:
        return waiting
    options = do_begin_passkey_authentication(
        db, purpose=PasskeyPurpose.SIGN_IN, user_id=None, rp_id=relying_party(request).rp_id
    )
    return _options(options)


@router.post("/login/passkey", dependencies=[PUBLIC])
def sign_in(request: Request, db: DbSession, answer: _Answer) -> Response:
    """A passkey with user verification is both factors: the session starts complete. Any
    session the request came with is ended first (no session fixation)."""
    check_same_origin(request)
    waiting = _throttled(db, request)
    if waiting is not None:
        return waiting
    address = client_address(request)
    rp = relying_party(request)
    try:
        signed_in = do_finish_passkey_sign_in(
            db,
            challenge_id=answer.challenge_id,
            credential=answer.credential,
            rp_id=rp.rp_id,
            origin=rp.origin,
        )
    except PasskeyVerificationFailed as exc:
        do_record_failure(db, email=THROTTLE_ACCOUNT, address=address)
        do_record_event(
            db,
            workspace_id=None,
            actor_kind=ActorKind.USER,
            actor_id=None,
            action="auth.login_failed",
            data={"address": address, "method": "passkey"},
        )
        return _refused(exc)
    do_record_success(db, email=THROTTLE_ACCOUNT, address=address)
    do_record_event(
        db,
        workspace_id=signed_in.workspace_id,
        actor_kind=ActorKind.USER,
        actor_id=str(signed_in.user_id),
        action="auth.login",
        data={"address": address, "method": "passkey"},
    )
    previous = session_secret(request)
    if previous:
        do_end_session_by_secret(db, secret=previous)
    secret = do_start_session(
        db,
        user_id=signed_in.user_id,
        workspace_id=signed_in.workspace_id,
        second_factor_presented=True,
        user_agent=request.headers.get("user-agent"),
        address=address,
    )
    response = _json({"redirect": "/dashboard"})
    set_session_cookie(request, response, secret)
    return response


# -- a passkey as the second factor after a password, and for a step-up ----------------------


@router.post(
    "/login/verify/passkey/options", dependencies=[requires(Permission.ACCOUNT_SELF, stages=_VERIFYING)]
)
def second_factor_options(request: Request, db: DbSession, user: CurrentUser) -> Response:
    check_csrf_header(request)
    _require_awaiting(user)
    return _assertion_options(request, db, user, PasskeyPurpose.SECOND_FACTOR)


@router.post("/login/verify/passkey", dependencies=[requires(Permission.ACCOUNT_SELF, stages=_VERIFYING)])
def second_factor(request: Request, db: DbSession, user: CurrentUser, answer: _Answer) -> Response:
    """Completes a sign-in that began with a password; the session id rotates."""
    check_csrf_header(request)
    _require_awaiting(user)
    failed = _check_assertion(request, db, user, PasskeyPurpose.SECOND_FACTOR, answer)
    if failed is not None:
        return failed
    record_user_event(db, user, "auth.login", data={"address": client_address(request), "method": "passkey"})
    return _completed(request, db, user, location="/dashboard")


@router.post("/account/step-up/passkey/options", dependencies=[requires(Permission.ACCOUNT_SELF)])
def step_up_options(request: Request, db: DbSession, user: CurrentUser) -> Response:
    check_csrf_header(request)
    return _assertion_options(request, db, user, PasskeyPurpose.STEP_UP)


@router.post("/account/step-up/passkey", dependencies=[requires(Permission.ACCOUNT_SELF)])
def step_up(request: Request, db: DbSession, user: CurrentUser, answer: StepUpAnswer) -> Response:
    """A fresh second factor for sensitive actions; answers where to go next (a local path)."""
    check_csrf_header(request)
    failed = _check_assertion(request, db, user, PasskeyPurpose.STEP_UP, answer)
    if failed is not None:
        return failed
    record_user_event(db, user, "auth.step_up", data={"method": "passkey"})
    return _completed(request, db, user, location=local_path(answer.next_path))


# -- shared ------------------------------------------------------------------------------------


def _assertion_options(request: Request, db: Session, user: SignedIn, purpose: PasskeyPurpose) -> Response:
    options = do_begin_passkey_authentication(
        db, purpose=purpose, user_id=user.user.id, rp_id=relying_party(request).rp_id
    )
    return _options(options)


def _check_assertion(
    request: Request, db: Session, user: SignedIn, purpose: PasskeyPurpose, answer: _Answer
) -> Response | None:
    """None when the answer is a valid assertion by one of the user's passkeys; else the error
    response, with the failure recorded."""
    rp = relying_party(request)
    try:
        do_verify_passkey(
            db,
            purpose=purpose,
            user_id=user.user.id,
            challenge_id=answer.challenge_id,
            credential=answer.credential,
            rp_id=rp.rp_id,
            origin=rp.origin,
        )
    except PasskeyVerificationFailed as exc:
        record_user_event(
            db,
            user,
            "auth.second_factor_failed",
            data={"address": client_address(request), "method": "passkey"},
        )
        return _refused(exc)
    return None


def _completed(request: Request, db: Session, user: SignedIn, *, location: str) -> Response:
    response = _json({"redirect": location})
    set_session_cookie(request, response, do_complete_second_factor(db, session_id=user.session_id))
    return response


def _require_awaiting(user: SignedIn) -> None:
    if not user.awaiting_second_factor:
        raise Conflict("This session has already presented its second factor.")


def _throttled(db: Session, request: Request) -> Response | None:
    wait = retry_after(db, email=THROTTLE_ACCOUNT, address=client_address(request))
    if wait <= dt.timedelta(0):
        return None
    seconds = math.ceil(wait.total_seconds())
    body = {
        "error": {"code": "rate_limited", "message": f"Too many attempts. Try again in {seconds} seconds."}
    }
    return JSONResponse(body, status_code=429, headers={**_NO_STORE, "Retry-After": str(seconds)})


def _options(options: PasskeyOptions) -> Response:
    return _json({"challenge_id": str(options.challenge_id), "publicKey": options.public_key})


def _json(body: dict[str, Any]) -> Response:
    return JSONResponse(body, headers=_NO_STORE)


def _refused(error: HushdeskError) -> Response:
    """The error as the app's error handler would render it for a JSON client, returned rather
    than raised so that the transaction commits (see the module docstring)."""
    body = {"error": {"code": error.code, "message": error.public_message}}
    return JSONResponse(body, status_code=error.status, headers=_NO_STORE)
