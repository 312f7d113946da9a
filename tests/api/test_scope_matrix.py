"""The scope matrix: every route of the app, called with every kind of key.

Built from the app's own route table, so a route added later is covered without touching this
file. Each route is classified by its declaration (``PUBLIC``, a page's ``requires`` or an API
route's ``api_requires``) and the walk fails on any it cannot classify. Then every non-public
route is called with one key per grantable scope, a key holding every key scope and a WhatsApp
integration's key, with path parameters filled from the key's own workspace where such an
object exists:

- a page never serves a key (the dashboard is for people who sign in);
- an API route refuses a key (403, and an ``api_key.denied`` event) exactly when the route's
  scope is outside the key's, and never when it is inside;
- a WhatsApp key reaches nothing that reads conversations or agent configuration.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from starlette.routing import Mount

from hushdesk.app import create_app
from hushdesk.audit.models import AuditEvent
from hushdesk.conversations.models import Contact, Conversation
from hushdesk.identity.models import WebSession
from hushdesk.identity.permissions import KEY_SCOPES, Permission
from hushdesk.identity.principal import Principal
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.schema import metadata
from hushdesk.web.authz import ApiScopeCheck, PermissionCheck, PublicRoute, api_requires, requires
from hushdesk.web.deps import SESSION_COOKIE
from tests.api import MadeKey, bearer, make_agent, make_key, principal_of
from tests.conftest import make_settings
from tests.web.helpers import app_sessions, signed_in_owner
from tests.web.test_permissions import PUBLIC_MOUNTS, flat_routes, route_dependency_calls

# The API routes this matrix must find at the least (later issues add more).
EXPECTED_API_ROUTES = {
    ("GET", "/api/v1/workspace"),
    ("GET", "/api/v1/agents"),
    ("GET", "/api/v1/agents/{agent_id}"),
    ("GET", "/api/v1/audit/events"),
    ("GET", "/api/v1/conversations"),
    ("GET", "/api/v1/conversations/{conversation_id}"),
}
# A page refuses a key: a key alone is refused before the page runs; a key sent beside a
# signed-in cookie is refused outright (403), so that the key cannot ride on the session.
KEY_ALONE_ON_A_PAGE = {403}
# Path parameters whose table is not named by dropping "_id".
TABLE_OF_PARAMETER = {"key_id": "api_key", "member_id": "membership", "event_id": "audit_event"}
WHATSAPP_KEY = "whatsapp integration"
ALL_SCOPES_KEY = "all key scopes"


class RouteKind(enum.Enum):
    PUBLIC = "public"
    PAGE = "page"
    API = "api"


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    route: APIRoute
    kind: RouteKind
    # Every permission the route's checks need (a route may be under a router that adds one).
    permissions: frozenset[Permission]

    @property
    def methods(self) -> list[str]:
        methods = set(self.route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        return sorted(methods)

    @property
    def label(self) -> str:
        return f"{'/'.join(self.methods)} {self.route.path}"


def classify_routes(app: FastAPI) -> tuple[list[DeclaredRoute], list[str]]:
    """The app's routes by declaration, and a description of each that cannot be classified:
    no declaration, or declarations of more than one kind (public and checked, or a page check
    beside an API check)."""
    declared: list[DeclaredRoute] = []
    unclassified: list[str] = []
    for route, inherited in flat_routes(app.routes):
        if isinstance(route, Mount) and route.name in PUBLIC_MOUNTS:
            continue
        if not isinstance(route, APIRoute):
            unclassified.append(f"{route!r} (not an API route)")
            continue
        calls = route_dependency_calls(route, inherited)
        pages = [call for call in calls if isinstance(call, PermissionCheck)]
        apis = [call for call in calls if isinstance(call, ApiScopeCheck)]
        public = any(isinstance(call, PublicRoute) for call in calls)
        kinds = [
            kind
            for kind, found in ((RouteKind.PUBLIC, public), (RouteKind.PAGE, pages), (RouteKind.API, apis))
            if found
        ]
        label = f"{sorted(route.methods or ())} {route.path}"
        if len(kinds) != 1:
            why = "declares " + " and ".join(kind.value for kind in kinds) if kinds else "no declaration"
            unclassified.append(f"{label} ({why})")
            continue
        permissions = frozenset(
            call.permission for call in calls if isinstance(call, PermissionCheck | ApiScopeCheck)
        )
        declared.append(DeclaredRoute(route=route, kind=kinds[0], permissions=permissions))
    return declared, unclassified


def test_every_route_is_public_a_page_or_an_api_route(app: FastAPI) -> None:
    declared, unclassified = classify_routes(app)
    assert unclassified == []
    found = {
        (method, item.route.path)
        for item in declared
        if item.kind is RouteKind.API
        for method in item.methods
    }
    assert found >= EXPECTED_API_ROUTES
    assert all(item.route.path.startswith("/api/") for item in declared if item.kind is RouteKind.API)
    assert not any(item.route.path.startswith("/api/") for item in declared if item.kind is RouteKind.PAGE)


def test_the_classifier_fails_on_a_route_it_cannot_classify(tmp_path: Path, sqlite_engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    @app.get(
        "/api/v1/confused",
        dependencies=[requires(Permission.AGENT_READ), api_requires(Permission.AGENT_READ)],
    )
    def confused() -> dict[str, str]:
        return {}

    _, unclassified = classify_routes(app)
    assert unclassified == [
        "['GET'] /api/v1/forgotten (no declaration)",
        "['GET'] /api/v1/confused (declares page and api)",
    ]


@dataclass(frozen=True, slots=True)
class KeyUnderTest:
    label: str
    key: MadeKey
    scopes: frozenset[Permission]


@dataclass(frozen=True, slots=True)
class Call:
    key: KeyUnderTest
    route: DeclaredRoute
    method: str
    status: int

    def describe(self) -> str:
        return f"{self.key.label}: {self.method} {self.route.route.path} -> {self.status}"


def _keys(client: TestClient) -> list[KeyUnderTest]:
    owner = principal_of(client)
    keys = [
        KeyUnderTest(scope.value, make_key(client, owner, [scope], name=scope.value), frozenset({scope}))
        for scope in sorted(KEY_SCOPES)
    ]
    keys.append(KeyUnderTest(ALL_SCOPES_KEY, make_key(client, owner, KEY_SCOPES), KEY_SCOPES))
    whatsapp = frozenset({Permission.WHATSAPP_WEBHOOK_RECEIVE})
    keys.append(KeyUnderTest(WHATSAPP_KEY, make_key(client, owner, whatsapp, name="WhatsApp"), whatsapp))
    return keys


def _path_for(route: APIRoute, session: Session, workspace_id: uuid.UUID) -> str:
    """The route's path with each parameter filled: an id of the workspace's own row where the
    parameter names a table that has one, else a random UUID (or 1 for an integer)."""
    annotations = {field.name: field.field_info.annotation for field in route.dependant.path_params}
    values: dict[str, str] = {}
    for name in route.param_convertors:
        if annotations.get(name) is int:
            values[name] = "1"
            continue
        values[name] = str(uuid.uuid4())
        table = metadata.tables.get(TABLE_OF_PARAMETER.get(name, name.removesuffix("_id")))
        if name.endswith("_id") and table is not None and {"id", "workspace_id"} <= set(table.c.keys()):
            found = session.scalar(select(table.c.id).where(table.c.workspace_id == workspace_id).limit(1))
            if found is not None:
                values[name] = str(found)
    return route.path_format.format(**values)


def _make_conversation(client: TestClient, owner: Principal, agent_id: uuid.UUID) -> None:
    """A customer's conversation with the agent, so that the conversation routes have one of
    the key's own workspace to read."""
    with unit_of_work(app_sessions(client)) as session:
        contact = Contact(
            workspace_id=owner.workspace_id,
            channel="widget",
            identifier="a-visitor",
            identifier_index=hashlib.sha256(b"a-visitor").digest(),
        )
        session.add(contact)
        session.flush()
        session.add(
            Conversation(
                workspace_id=owner.workspace_id, agent_id=agent_id, contact_id=contact.id, channel="widget"
            )
        )


def _call_all(
    client: TestClient,
    routes: list[DeclaredRoute],
    keys: list[KeyUnderTest],
    path_of: Callable[[APIRoute], str],
) -> list[Call]:
    calls = []
    for key in keys:
        for declared in routes:
            for method in declared.methods:
                response = client.request(method, path_of(declared.route), headers=bearer(key.key.token))
                calls.append(Call(key, declared, method, response.status_code))
    return calls


def _denied_events(client: TestClient) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return (
            session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "api_key.denied")
            )
            or 0
        )


def test_every_key_reaches_exactly_the_routes_its_scopes_allow(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    owner = principal_of(client)
    _make_conversation(client, owner, make_agent(client, owner))
    keys = _keys(client)
    declared, unclassified = classify_routes(client.app)  # type: ignore[arg-type]  # TestClient.app is the ASGI app
    assert unclassified == []
    routes = [item for item in declared if item.kind is not RouteKind.PUBLIC]
    with unit_of_work(app_sessions(client)) as session:
        paths = {item.route.path: _path_for(item.route, session, owner.workspace_id) for item in routes}
    owner_cookie = client.cookies[SESSION_COOKIE]

    client.cookies.clear()
    calls = _call_all(client, routes, keys, lambda route: paths[route.path])

    wrong = []
    for call in calls:
        if call.route.kind is RouteKind.PAGE:
            if call.status not in KEY_ALONE_ON_A_PAGE:
                wrong.append(f"a page served a key: {call.describe()}")
        elif call.route.permissions <= call.key.scopes:
            if call.status in (401, 403) or call.status >= 500:
                wrong.append(f"refused or failed within scope: {call.describe()}")
        elif call.status != 403:
            wrong.append(f"not refused outside scope: {call.describe()}")
    assert wrong == []
    api_refusals = [call for call in calls if call.route.kind is RouteKind.API and call.status == 403]
    assert api_refusals, "no key was refused anywhere: the matrix proved nothing"
    assert _denied_events(client) == len(api_refusals)
    within = [call for call in calls if call.route.kind is RouteKind.API and call.status == 200]
    assert {(call.method, call.route.route.path) for call in within} >= EXPECTED_API_ROUTES

    # Beside a signed-in owner's cookie a key is refused outright, even where the owner's own
    # session would be let in. The session is touched first so that no request has to.
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow(), second_factor_at=utcnow()))
    client.cookies.set(SESSION_COOKIE, owner_cookie)
    strongest = [key for key in keys if key.label == ALL_SCOPES_KEY]
    pages = [item for item in routes if item.kind is RouteKind.PAGE]
    beside_cookie = _call_all(client, pages, strongest, lambda route: paths[route.path])
    assert [call.describe() for call in beside_cookie if call.status != 403] == []
    assert len(beside_cookie) >= len(pages)


def test_a_whatsapp_key_reads_no_conversations_and_no_agent_configuration(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    owner = principal_of(client)
    make_agent(client, owner)
    whatsapp = make_key(client, owner, [Permission.WHATSAPP_WEBHOOK_RECEIVE], name="WhatsApp")
    declared, _ = classify_routes(client.app)  # type: ignore[arg-type]  # TestClient.app is the ASGI app
    sensitive = [
        item
        for item in declared
        if item.kind is not RouteKind.PUBLIC
        and any(permission.value.startswith(("conversation:", "agent:")) for permission in item.permissions)
    ]
    assert {
        ("GET", "/api/v1/agents"),
        ("GET", "/api/v1/agents/{agent_id}"),
        ("GET", "/api/v1/conversations"),
        ("GET", "/api/v1/conversations/{conversation_id}"),
    } <= {
        (method, item.route.path)
        for item in sensitive
        if item.kind is RouteKind.API
        for method in item.methods
    }
    with unit_of_work(app_sessions(client)) as session:
        paths = {item.route.path: _path_for(item.route, session, owner.workspace_id) for item in sensitive}
    owner_cookie = client.cookies[SESSION_COOKIE]
    key = KeyUnderTest(WHATSAPP_KEY, whatsapp, frozenset({Permission.WHATSAPP_WEBHOOK_RECEIVE}))

    client.cookies.clear()
    alone = _call_all(client, sensitive, [key], lambda route: paths[route.path])
    assert [
        call.describe()
        for call in alone
        if call.status != 403
        and not (call.route.kind is RouteKind.PAGE and call.status in KEY_ALONE_ON_A_PAGE)
    ] == []
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow(), second_factor_at=utcnow()))
    client.cookies.set(SESSION_COOKIE, owner_cookie)
    beside_cookie = _call_all(client, sensitive, [key], lambda route: paths[route.path])
    assert [call.describe() for call in beside_cookie if call.status != 403] == []


def test_the_matrix_fills_path_parameters_from_the_keys_own_workspace(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    owner = principal_of(client)
    agent_id = make_agent(client, owner)
    declared, _ = classify_routes(client.app)  # type: ignore[arg-type]  # TestClient.app is the ASGI app
    (agent_route,) = [item.route for item in declared if item.route.path == "/api/v1/agents/{agent_id}"]
    with unit_of_work(app_sessions(client)) as session:
        assert _path_for(agent_route, session, owner.workspace_id) == f"/api/v1/agents/{agent_id}"
        elsewhere = _path_for(agent_route, session, uuid.uuid4())
    assert elsewhere != f"/api/v1/agents/{agent_id}"
    assert uuid.UUID(elsewhere.rsplit("/", 1)[-1]).version == 4
