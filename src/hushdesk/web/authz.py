"""Route declarations: the permission a route needs, or that it is public.

    @router.get("/dashboard", dependencies=[requires(Permission.ACCOUNT_SELF)])
    @router.post("/team/invite", dependencies=[requires(Permission.MEMBER_MANAGE, fresh=True)])
    @router.get("/api/v1/agents", dependencies=[api_requires(Permission.AGENT_READ)])
    @router.get("/healthz", dependencies=[PUBLIC])

``requires`` is for the dashboard: a signed-in person whose role holds the permission. It
refuses API keys, sends a session still awaiting its second factor to that step, and an owner
or admin (or anyone, where the workspace enforces it) without a second factor to enrol one.
``fresh=True`` marks a sensitive action: the second factor must have been presented within
the step-up window. ``stage`` lets the few routes of the sign-in and enrolment steps run
before the session is complete.

``api_requires`` is for ``/api/``: an API key (``Authorization: Bearer hd_live_...``) whose
scopes hold the permission; never a cookie, so no cross-site request can use it. A refused
key is an audit event, recorded in a transaction of its own because the request's rolls back.

``PUBLIC`` does nothing at run time: it is the explicit statement the route walk test looks
for.
"""

from __future__ import annotations

import enum
from typing import Any

from fastapi import Depends, Request, params

from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.identity.api_keys import ApiKeyAccess, access_api_key, bearer_token, do_touch_api_key
from hushdesk.identity.errors import MfaEnrolmentRequired, SecondFactorRequired, StepUpRequired
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import Principal
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import PermissionDenied, Unauthenticated
from hushdesk.web.deps import OptionalUser
from hushdesk.web.rate_limits import API_KEY_REFUSALS, API_KEY_REQUESTS, enforce


class Stage(enum.Enum):
    """The incomplete session states a route may admit besides a complete one."""

    # Password accepted, second factor not yet presented: only the second-factor step.
    AWAITING_SECOND_FACTOR = "awaiting_second_factor"
    # Signed in, but an owner or admin (or an enforcing workspace's member) with no second
    # factor yet: only enrolment and sign-out.
    ENROLLING = "enrolling"


class PermissionCheck:
    """The dependency behind ``requires``; ``permission`` is what the route needs."""

    def __init__(self, permission: Permission, *, fresh: bool, stages: frozenset[Stage]) -> None:
        self.permission = permission
        self.fresh = fresh
        self.stages = stages

    def __call__(self, request: Request, user: OptionalUser) -> SignedIn:
        # Checked before the session: a key sent to a page is refused as a key, whether or not
        # a cookie came with it.
        if "authorization" in request.headers:
            raise PermissionDenied("API keys are accepted only under /api/.")
        if user is None:
            raise Unauthenticated()
        if user.awaiting_second_factor:
            if Stage.AWAITING_SECOND_FACTOR not in self.stages:
                raise SecondFactorRequired()
        elif user.must_enrol_mfa and Stage.ENROLLING not in self.stages:
            raise MfaEnrolmentRequired()
        if not user.principal.can(self.permission):
            raise PermissionDenied()
        if self.fresh and not user.second_factor_is_fresh():
            raise StepUpRequired(_next_path(request))
        return user

    def __repr__(self) -> str:
        return f"requires({self.permission.value})"


class ApiScopeCheck:
    """The dependency behind ``api_requires``; ``permission`` is the scope the route needs."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, request: Request) -> Principal:
        """The key is looked up in a short read of its own, before the route's transaction has
        started: the writes that may follow (last use, a refusal) then never wait on the
        route's own write lock, which SQLite holds from a writing transaction's first read."""
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthenticated("Send an API key: Authorization: Bearer hd_live_...")
        with unit_of_work(request.app.state.read_sessions) as reader:
            access = access_api_key(reader, token)
        if access is None:
            raise Unauthenticated("That API key is unknown, expired or revoked.")
        key_id = str(access.principal.id)
        enforce(request, API_KEY_REQUESTS, key_id)
        if not access.principal.can(self.permission):
            # Past the refusal limit the key is slowed down rather than audited again.
            enforce(request, API_KEY_REFUSALS, key_id)
            _record_denied(request, access, self.permission)
            raise PermissionDenied(f"This key's scopes do not include {self.permission.value}.")
        if access.needs_touch:
            # Last use is written in its own short transaction, at most once a minute per key,
            # so that reads through the API stay read-only.
            with unit_of_work(request.app.state.sessions) as writer:
                do_touch_api_key(writer, key_id=access.principal.id)
        return access.principal

    def __repr__(self) -> str:
        return f"api_requires({self.permission.value})"


class PublicRoute:
    """Marks a route as reachable without signing in."""

    def __call__(self) -> None:
        return None


def requires(permission: Permission, *, fresh: bool = False, stages: frozenset[Stage] = frozenset()) -> Any:
    return Depends(PermissionCheck(permission, fresh=fresh, stages=stages))


def api_requires(permission: Permission) -> Any:
    return Depends(ApiScopeCheck(permission))


class WidgetRoute(PublicRoute):
    """Marks a route of the website widget's API: no dashboard sign-in, and no cookie either.
    The route authenticates a visitor token from the Authorization header itself (or, for
    ``POST /widget/v1/sessions``, the page's Origin against the agent's domains), so a page of
    another site has no ambient credential to ride on."""


PUBLIC: params.Depends = Depends(PublicRoute())
WIDGET: params.Depends = Depends(WidgetRoute())


def _record_denied(request: Request, access: ApiKeyAccess, permission: Permission) -> None:
    with unit_of_work(request.app.state.sessions) as writer:
        do_record_event(
            writer,
            workspace_id=access.principal.workspace_id,
            actor_kind=ActorKind.API_KEY,
            actor_id=str(access.principal.id),
            action="api_key.denied",
            target_kind="route",
            target_id=None,
            data={"scope": permission.value, "method": request.method, "route": _route_template(request)},
        )


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "?"


def _next_path(request: Request) -> str:
    """Where to come back to after the step-up: the page itself for a GET, else the page the
    form was on (its Referer, when it is ours), else the dashboard."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = request.headers.get("referer", "")
    base = str(request.base_url)
    if referer.startswith(base):
        return "/" + referer[len(base) :]
    return "/dashboard"
