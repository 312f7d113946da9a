"""Route declarations: the permission a route needs, or that it is public.

    @router.get("/dashboard", dependencies=[requires(Permission.ACCOUNT_SELF)])
    @router.get("/healthz", dependencies=[PUBLIC])

``requires`` resolves the signed-in principal and refuses (403) a role without the
permission; no principal gives 401 (a redirect to sign-in for browsers). ``PUBLIC`` does
nothing at run time: it is the explicit statement the route walk test looks for.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, params

from hushdesk.identity.permissions import Permission, role_has
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import PermissionDenied
from hushdesk.web.deps import CurrentUser


class PermissionCheck:
    """The dependency behind ``requires``; its ``permission`` is what the route needs."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, user: CurrentUser) -> SignedIn:
        if not role_has(user.role, self.permission):
            raise PermissionDenied()
        return user

    def __repr__(self) -> str:
        return f"requires({self.permission.value})"


class PublicRoute:
    """Marks a route as reachable without signing in."""

    def __call__(self) -> None:
        return None


def requires(permission: Permission) -> Any:
    return Depends(PermissionCheck(permission))


PUBLIC: params.Depends = Depends(PublicRoute())
