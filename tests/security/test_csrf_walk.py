"""Every state-changing request that a cookie authenticates carries the session's CSRF token,
and every public form refuses another site's origin: walked over the app's own route table,
so a route added later is covered. A refused request changes nothing.

The walk sends each route a body it can parse (a form with the fields routes here take, or
the JSON of a passkey answer), so that the refusal it sees is the CSRF check's and not the
body's validation; a route whose body the walk cannot fill fails the test until a sample is
added below.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from hushdesk.agents.models import Agent
from hushdesk.app import create_app
from hushdesk.identity.models import Membership
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.schema import metadata
from hushdesk.web.authz import ApiScopeCheck, PermissionCheck, PublicRoute, WidgetRoute, requires
from tests.conftest import make_settings
from tests.security.route_table import declaration_of, flat_routes
from tests.web.helpers import (
    MEMBER_PASSWORD,
    OWNER_EMAIL,
    add_member,
    app_sessions,
    signed_in_owner,
    workspace_id_of,
)

_PARAM = re.compile(r"{([a-z_]+)}")
_VOLATILE = {("web_session", "last_seen_at")}
WRONG = "0" * 64

# What the routes' forms take; each route reads the fields it declares and ignores the rest.
FORM = {
    "csrf_token": WRONG,
    "role": "support",
    "name": "Something",
    "email": "someone@example.com",
    "code": "123456",
    "method": "totp",
    "idle_minutes": "30",
    "absolute_minutes": "720",
    "scopes": "agent:read",
    "expires_in_days": "30",
    "display_name": "Some One",
    "password": MEMBER_PASSWORD,
    "password_confirm": MEMBER_PASSWORD,
    "current_password": MEMBER_PASSWORD,
    "new_password": MEMBER_PASSWORD,
    "new_password_confirm": MEMBER_PASSWORD,
    "workspace_name": "Another",
    "region": "eu",
    "owner_name": "Some One",
    "owner_email": "someone@example.com",
    "mode": "label",
    "sample_text": "mail someone@example.com",
    # Agent settings, deleting an agent, and its knowledge base.
    "tone": "formal",
    "temperature": "0.5",
    "retrieval_mode": "lexical",
    "handoff_min_score": "10",
    "handoff_after_failures": "2",
    "allowed_domains": "shop.example.com",
    "confirm_name": "Ours",
    "title": "Returns",
    "text": "Returns are free within 30 days.",
    "url": "https://help.example.com/returns",
    "import_kind": "sitemap",
    "max_pages": "10",
}
# Routes whose body is JSON (the passkey ceremonies' answers).
JSON_ANSWER = {"challenge_id": str(uuid.uuid4()), "credential": {"id": "x", "type": "public-key"}}


def _snapshot(engine: Engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [column.name for column in table.columns if (table.name, column.name) not in _VOLATILE]
            quoted = ", ".join(f'"{name}"' for name in columns)
            rows = connection.execute(text(f'SELECT {quoted} FROM "{table.name}" ORDER BY 1')).all()
            digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


def _own_ids(client: TestClient) -> dict[str, str]:
    """Ids of the owner's own workspace, so that the only thing wrong is the token."""
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    with unit_of_work(app_sessions(client)) as session:
        agent = Agent(workspace_id=workspace_id, name="Ours", slug="ours")
        session.add(agent)
        session.flush()
        membership = session.scalars(select(Membership).where(Membership.role == "support")).one()
        return {
            "agent_id": str(agent.id),
            "membership_id": str(membership.id),
            "invitation_id": str(uuid.uuid4()),
            "key_id": str(uuid.uuid4()),
            "passkey_id": str(uuid.uuid4()),
            "session_id": str(uuid.uuid4()),
            "token": "not-a-real-link-token",
            "factor_id": str(uuid.uuid4()),
            "document_id": str(uuid.uuid4()),
            "import_id": str(uuid.uuid4()),
            "conversation_id": str(uuid.uuid4()),
        }


def _state_changing(client: TestClient) -> Iterator[tuple[str, str, object]]:
    for route in flat_routes(client.app.routes):  # type: ignore[attr-defined]
        for method in sorted((route.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            yield method, route.path, declaration_of(route)


def _send(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    if "passkey" in path and not path.endswith("/options") and not path.endswith("/delete"):
        return client.request(method, path, json=JSON_ANSWER, headers={**headers, "x-csrf-token": WRONG})
    if path.endswith("/options"):
        return client.request(method, path, headers={**headers, "x-csrf-token": WRONG})
    return client.request(method, path, data={**FORM, "factor_id": str(uuid.uuid4())}, headers=headers)


def _cookie_walk(client: TestClient, engine: Engine) -> tuple[list[str], int]:
    signed_in_owner(client, engine)
    ids = _own_ids(client)
    problems: list[str] = []
    checked = 0
    for method, template, declaration in _state_changing(client):
        if not isinstance(declaration, PermissionCheck):
            continue
        path = _PARAM.sub(lambda match: ids[match.group(1)], template)
        before = _snapshot(engine)
        response = _send(client, method, path, {"accept": "application/json"})
        checked += 1
        if response.status_code != 403 or response.json()["error"]["code"] != "permission_denied":
            problems.append(f"{method} {template}: {response.status_code} {response.text[:160]}")
        elif _snapshot(engine) != before:
            problems.append(f"{method} {template} changed the database")
    return problems, checked


def test_cookie_authenticated_changes_need_the_csrf_token(client: TestClient, sqlite_engine: Engine) -> None:
    problems, checked = _cookie_walk(client, sqlite_engine)
    assert problems == []
    assert checked >= 20


def test_the_walk_catches_a_change_without_the_csrf_check(tmp_path: Path, sqlite_engine: Engine) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.post("/careless", dependencies=[requires(Permission.ACCOUNT_SELF)])
    def careless() -> dict[str, str]:
        return {"changed": "yes"}

    with TestClient(app) as client:
        problems, _checked = _cookie_walk(client, sqlite_engine)
    assert [problem.split(":")[0] for problem in problems] == ["POST /careless"]


def test_public_forms_refuse_another_sites_origin(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    ids = _own_ids(client)
    client.cookies.clear()
    problems: list[str] = []
    checked = 0
    for method, template, declaration in _state_changing(client):
        if isinstance(declaration, (ApiScopeCheck, WidgetRoute)) or not isinstance(declaration, PublicRoute):
            continue
        path = _PARAM.sub(lambda match: ids[match.group(1)], template)
        before = _snapshot(sqlite_engine)
        response = _send(
            client, method, path, {"accept": "application/json", "origin": "https://evil.example"}
        )
        checked += 1
        if response.status_code != 403:
            problems.append(f"{method} {template}: {response.status_code} {response.text[:160]}")
        elif _snapshot(sqlite_engine) != before:
            problems.append(f"{method} {template} changed the database")
    assert problems == []
    assert checked >= 5


def test_widget_routes_from_another_site_without_a_token_change_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    """The widget's routes carry no cookie authority: from another site's page, with a signed-in
    owner's cookie in the jar but no visitor token, each is refused (401, or 403/404 for the
    session route, which checks the Origin) and the database is unchanged."""
    signed_in_owner(client, sqlite_engine)
    checked = 0
    problems: list[str] = []
    for method, template, declaration in _state_changing(client):
        if not isinstance(declaration, WidgetRoute):
            continue
        path = _PARAM.sub("hd_pk_" + "a" * 26, template)
        before = _snapshot(sqlite_engine)
        response = client.request(
            method,
            path,
            json={
                "agent": "hd_pk_" + "a" * 26,
                "bootstrap": "x",
                "version": 1,
                "client_id": str(uuid.uuid4()),
                "text": "hi",
            },
            headers={"accept": "application/json", "origin": "https://evil.example"},
        )
        checked += 1
        if response.status_code not in (401, 403, 404):
            problems.append(f"{method} {template}: {response.status_code} {response.text[:160]}")
        elif _snapshot(sqlite_engine) != before:
            problems.append(f"{method} {template} changed the database")
    assert problems == []
    assert checked >= 6
