"""The app's own route table, walked: every API route with the dependencies its includes
add, and the declaration (``requires``, ``api_requires`` or ``PUBLIC``) each one makes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from hushdesk.web.authz import ApiScopeCheck, PermissionCheck, PublicRoute


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from flat_routes(original.routes)
        elif isinstance(route, APIRoute):
            yield route


def declaration_of(route: APIRoute) -> object:
    def calls(dependant: object) -> Iterator[object]:
        for dependency in getattr(dependant, "dependencies", []):
            yield dependency.call
            yield from calls(dependency)

    for call in calls(route.dependant):
        if isinstance(call, PermissionCheck | ApiScopeCheck | PublicRoute):
            return call
    raise AssertionError(f"{sorted(route.methods or ())} {route.path} declares no permission")
