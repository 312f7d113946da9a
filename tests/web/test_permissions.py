"""Every route declares its permission or that it is public; roles hold what they should."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from starlette.routing import BaseRoute, Mount

from hushdesk.app import create_app
from hushdesk.identity.models import Membership, Role
from hushdesk.identity.permissions import ROLE_PERMISSIONS, Permission, role_has
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.web.authz import ApiScopeCheck, PermissionCheck, PublicRoute, api_requires, requires
from tests.conftest import make_settings
from tests.web.helpers import signed_in_owner

# Mounted applications that serve files, not routes: public by nature.
PUBLIC_MOUNTS = {"static"}


# What a route may declare: a page permission, an API scope, or that it is public.
DECLARATION_MARKERS = (PermissionCheck, ApiScopeCheck, PublicRoute)


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def route_dependency_calls(route: APIRoute, inherited: tuple[object, ...]) -> list[object]:
    """Every dependency a route runs: its own (nested ones included) and its includes'."""
    return [*_calls(route.dependant), *(getattr(d, "dependency", None) for d in inherited)]


def flat_routes(
    routes: Iterable[BaseRoute], inherited: tuple[object, ...] = ()
) -> Iterator[tuple[BaseRoute, tuple[object, ...]]]:
    """Every route with the dependencies its includes add. FastAPI keeps an included router
    as one entry (``original_router`` and ``include_context``) and expands it lazily."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context_dependencies = tuple(getattr(getattr(route, "include_context", None), "dependencies", ()))
            yield from flat_routes(original.routes, inherited + context_dependencies)
        else:
            yield route, inherited


def undeclared_routes(app: FastAPI) -> list[str]:
    """Routes that declare neither a permission nor that they are public."""
    missing = []
    for route, inherited in flat_routes(app.routes):
        if isinstance(route, Mount) and route.name in PUBLIC_MOUNTS:
            continue
        if not isinstance(route, APIRoute):
            missing.append(f"{route!r} (not an API route)")
            continue
        calls = route_dependency_calls(route, inherited)
        if not any(isinstance(call, DECLARATION_MARKERS) for call in calls):
            missing.append(f"{sorted(route.methods or ())} {route.path}")
    return missing


def test_every_route_declares_a_permission_or_is_public(app: FastAPI) -> None:
    assert undeclared_routes(app) == []


def test_the_walk_finds_an_undeclared_route(tmp_path: Path, sqlite_engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert undeclared_routes(app) == ["['GET'] /forgotten"]


def test_the_walk_accepts_an_api_scope_as_a_declaration(tmp_path: Path, sqlite_engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.get("/api/v1/declared", dependencies=[api_requires(Permission.AGENT_READ)])
    def declared() -> dict[str, str]:
        return {}

    @app.get("/api/v1/undeclared")
    def undeclared() -> dict[str, str]:
        return {}

    assert undeclared_routes(app) == ["['GET'] /api/v1/undeclared"]


def test_the_owner_holds_every_permission_and_the_auditor_only_the_audit_log() -> None:
    assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(Permission)
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {Permission.ACCOUNT_SELF, Permission.AUDIT_READ}
    assert not role_has("auditor", Permission.CONVERSATION_READ)
    assert not role_has("no-such-role", Permission.ACCOUNT_SELF)
    for role in Role:
        assert role_has(role.value, Permission.ACCOUNT_SELF)
    assert not any(
        role_has(role.value, Permission.WORKSPACE_MANAGE) for role in Role if role is not Role.OWNER
    )


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("support", 200), ("auditor", 403)])
def test_a_route_refuses_a_role_without_its_permission(
    tmp_path: Path, sqlite_engine: Engine, role: str, status: int
) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.get("/transcripts", dependencies=[requires(Permission.CONVERSATION_READ)])
    def transcripts() -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(app) as client:
        signed_in_owner(client, sqlite_engine)
        with unit_of_work(make_sessionmaker(sqlite_engine)) as session:
            session.execute(update(Membership).values(role=role))
        response = client.get("/transcripts", headers={"accept": "application/json"})
        assert response.status_code == status
        client.cookies.clear()
        assert client.get("/transcripts", headers={"accept": "application/json"}).status_code == 401


# The agent configuration, knowledge, provider and preview routes: what each declares. Reading is agent:read,
# every change agent:write (the access functions narrow managers to their own agents), and
# deleting an agent or changing its provider also needs a fresh second factor.
AGENT_ROUTES = {
    ("GET", "/agents/{agent_id}/settings"): (Permission.AGENT_WRITE, False),
    ("POST", "/agents/{agent_id}/settings"): (Permission.AGENT_WRITE, False),
    ("POST", "/agents/{agent_id}/delete"): (Permission.AGENT_WRITE, True),
    ("GET", "/agents/{agent_id}/knowledge"): (Permission.AGENT_READ, False),
    ("POST", "/agents/{agent_id}/knowledge/files"): (Permission.AGENT_WRITE, False),
    ("POST", "/agents/{agent_id}/knowledge/text"): (Permission.AGENT_WRITE, False),
    ("POST", "/agents/{agent_id}/knowledge/imports"): (Permission.AGENT_WRITE, False),
    ("GET", "/agents/{agent_id}/knowledge/imports/{import_id}"): (Permission.AGENT_READ, False),
    ("POST", "/agents/{agent_id}/knowledge/documents/{document_id}/delete"): (Permission.AGENT_WRITE, False),
    ("GET", "/agents/{agent_id}/provider"): (Permission.AGENT_READ, False),
    ("POST", "/agents/{agent_id}/provider"): (Permission.AGENT_WRITE, True),
    # The preview can cost money and shows the agent's knowledge.
    ("GET", "/agents/{agent_id}/preview"): (Permission.AGENT_WRITE, False),
    ("POST", "/agents/{agent_id}/preview"): (Permission.AGENT_WRITE, False),
    # The widget's identity secret: made (shown once) or removed with a fresh second factor.
    ("POST", "/agents/{agent_id}/identity-secret"): (Permission.AGENT_WRITE, True),
    ("POST", "/agents/{agent_id}/identity-secret/delete"): (Permission.AGENT_WRITE, True),
}


def test_the_agent_configuration_and_knowledge_routes_declare_their_permissions(app: FastAPI) -> None:
    declared: dict[tuple[str, str], tuple[Permission, bool]] = {}
    for route, inherited in flat_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/agents/{agent_id}/"):
            continue
        (check,) = [
            call for call in route_dependency_calls(route, inherited) if isinstance(call, PermissionCheck)
        ]
        for method in route.methods or ():
            declared[(method, route.path)] = (check.permission, check.fresh)
    assert declared == AGENT_ROUTES


# The inbox and conversation routes: reading (and the live streams) is conversation:read, every
# action conversation:reply (the access functions narrow managers and support people to the
# agents assigned to them).
CONVERSATION_ROUTES = {
    ("GET", "/inbox"): Permission.CONVERSATION_READ,
    ("GET", "/inbox/rows"): Permission.CONVERSATION_READ,
    ("GET", "/inbox/events"): Permission.CONVERSATION_READ,
    ("GET", "/conversations/{conversation_id}"): Permission.CONVERSATION_READ,
    ("GET", "/conversations/{conversation_id}/messages"): Permission.CONVERSATION_READ,
    ("GET", "/conversations/{conversation_id}/events"): Permission.CONVERSATION_READ,
    ("GET", "/conversations/{conversation_id}/attachments/{attachment_id}"): Permission.CONVERSATION_READ,
    ("POST", "/conversations/{conversation_id}/reply"): Permission.CONVERSATION_REPLY,
    ("POST", "/conversations/{conversation_id}/take"): Permission.CONVERSATION_REPLY,
    ("POST", "/conversations/{conversation_id}/resolve"): Permission.CONVERSATION_REPLY,
    ("POST", "/conversations/{conversation_id}/hand-back"): Permission.CONVERSATION_REPLY,
}


def test_the_inbox_and_conversation_routes_declare_their_permissions(app: FastAPI) -> None:
    declared: dict[tuple[str, str], Permission] = {}
    for route, inherited in flat_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith(("/inbox", "/conversations/")):
            continue
        (check,) = [
            call for call in route_dependency_calls(route, inherited) if isinstance(call, PermissionCheck)
        ]
        assert not check.fresh
        for method in route.methods or ():
            declared[(method, route.path)] = check.permission
    assert declared == CONVERSATION_ROUTES
    assert not role_has("manager", Permission.CONVERSATION_REPLY)
    assert role_has("support", Permission.CONVERSATION_REPLY)
