"""The cross-workspace matrix: a member of workspace A calls every id-bearing route with the
ids of workspace B's objects. Every answer is 404, the same as for a missing object, and
nothing changes in the database.

The routes come from the app's own route table, so a route that a later change adds is
covered without anyone remembering; a path parameter the matrix does not know fails the test
until an object of that kind is added to ``_workspace_b_ids``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from hushdesk.agents.knowledge.models import KnowledgeDocument, KnowledgeImport
from hushdesk.agents.models import Agent
from hushdesk.app import create_app
from hushdesk.conversations.models import Attachment, Contact, Conversation, Message
from hushdesk.identity.api_keys import do_create_api_key
from hushdesk.identity.models import Invitation, Membership, Role, WebSession
from hushdesk.identity.passkeys import PasskeyCredential
from hushdesk.identity.permissions import KEY_SCOPES, Permission
from hushdesk.identity.principal import user_principal
from hushdesk.identity.tokens import new_token, token_digest
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import NotFound
from hushdesk.schema import metadata
from hushdesk.web.authz import ApiScopeCheck, PublicRoute, requires
from hushdesk.web.deps import DbSession
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import make_settings
from tests.security.route_table import declaration_of, flat_routes
from tests.web.helpers import (
    OWNER_EMAIL,
    add_member,
    app_sessions,
    csrf_from,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

# Columns that a request may touch without changing anything a person would call state: the
# idle clock of the caller's own session and the last use of the caller's own key.
_VOLATILE = {("web_session", "last_seen_at"), ("api_key", "last_used_at")}
_PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")


def _snapshot(engine: Engine) -> str:
    """A digest of every row of every table, volatile columns left out."""
    digest = hashlib.sha256()
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [column.name for column in table.columns if (table.name, column.name) not in _VOLATILE]
            quoted = ", ".join(f'"{name}"' for name in columns)
            rows = connection.execute(text(f'SELECT {quoted} FROM "{table.name}" ORDER BY 1')).all()
            digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


def _workspace_b_ids(client: TestClient) -> dict[str, uuid.UUID]:
    """Workspace B with one object of every kind that a route names by id."""
    with unit_of_work(app_sessions(client)) as session:
        workspace = do_create_workspace(session, name="Other Business", region=Region.US)
    owner_id = add_member(client, workspace_id=workspace.id, email="bea@other.example", role="owner")
    support_id = add_member(client, workspace_id=workspace.id, email="sid@other.example", role="support")
    with unit_of_work(app_sessions(client)) as session:
        membership = session.scalars(select(Membership).where(Membership.user_id == support_id)).one()
        owner_membership = session.scalars(select(Membership).where(Membership.user_id == owner_id)).one()
        agent = Agent(workspace_id=workspace.id, name="Their agent", slug="their-agent")
        session.add(agent)
        session.flush()
        document = KnowledgeDocument(
            workspace_id=workspace.id,
            agent_id=agent.id,
            source="their-returns.md",
            title="",
            links=[],
            kind="markdown",
            byte_size=10,
            page_count=1,
            chunk_count=0,
        )
        knowledge_import = KnowledgeImport(
            workspace_id=workspace.id,
            agent_id=agent.id,
            url="https://help.other.example/",
            failures=[],
            created_by_id=owner_id,
        )
        session.add_all([document, knowledge_import])
        invitation = Invitation(
            workspace_id=workspace.id,
            email="new@other.example",
            role=Role.SUPPORT.value,
            agent_ids=[],
            token_hash=token_digest(new_token()),
            invited_by_id=owner_id,
            expires_at=utcnow() + dt.timedelta(days=1),
        )
        session.add(invitation)
        credential = b"credential-of-workspace-b"
        passkey = PasskeyCredential(
            workspace_id=workspace.id,
            user_id=support_id,
            credential_lookup=hashlib.sha256(credential).hexdigest(),
            credential_id=credential,
            public_key=b"not a real key",
            sign_count=0,
            name="Their passkey",
            transports=[],
        )
        session.add(passkey)
        # A customer's conversation with their agent, with an attachment (the file itself is
        # never reached: the access check comes first).
        contact = Contact(
            workspace_id=workspace.id,
            channel="widget",
            identifier="their-visitor",
            identifier_index=hashlib.sha256(b"their-visitor").digest(),
        )
        session.add(contact)
        session.flush()
        conversation = Conversation(
            workspace_id=workspace.id,
            agent_id=agent.id,
            contact_id=contact.id,
            channel="widget",
            status="handed_off",
            assigned_membership_id=membership.id,
        )
        session.add(conversation)
        session.flush()
        message = Message(
            workspace_id=workspace.id,
            conversation_id=conversation.id,
            contact_id=contact.id,
            seq=1,
            author="customer",
            body="",
        )
        session.add(message)
        session.flush()
        attachment = Attachment(
            workspace_id=workspace.id,
            conversation_id=conversation.id,
            message_id=message.id,
            contact_id=contact.id,
            file_id="0" * 32,
            media_type="image/png",
            byte_size=10,
            file_name="their.png",
        )
        session.add(attachment)
        principal = user_principal(
            workspace_id=workspace.id, user_id=owner_id, membership_id=owner_membership.id, role="owner"
        )
        key = do_create_api_key(
            session,
            creator=principal,
            name="Their key",
            scopes=["agent:read"],
            expires_at=utcnow() + dt.timedelta(days=30),
        ).key
        session.flush()
        ids = {
            "agent_id": agent.id,
            "membership_id": membership.id,
            "invitation_id": invitation.id,
            "key_id": key.id,
            "passkey_id": passkey.id,
            "document_id": document.id,
            "import_id": knowledge_import.id,
            "conversation_id": conversation.id,
            "attachment_id": attachment.id,
        }
    sign_in_directly(client, email="sid@other.example")
    with unit_of_work(app_sessions(client)) as session:
        ids["session_id"] = session.scalars(
            select(WebSession.id).where(WebSession.user_id == support_id)
        ).one()
    return ids


def _all_scopes_key(client: TestClient) -> str:
    with unit_of_work(app_sessions(client)) as session:
        membership = session.scalars(
            select(Membership).where(Membership.role == "owner").order_by(Membership.created_at)
        ).first()
        assert membership is not None
        principal = user_principal(
            workspace_id=membership.workspace_id,
            user_id=membership.user_id,
            membership_id=membership.id,
            role="owner",
        )
        return do_create_api_key(
            session,
            creator=principal,
            name="Matrix",
            scopes=[scope.value for scope in KEY_SCOPES],
            expires_at=utcnow() + dt.timedelta(days=1),
        ).token


@pytest.fixture
def matrix_client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path), engine=engine)) as client:
        yield client


def _run_matrix(client: TestClient, engine: Engine) -> tuple[list[str], list[str], list[str]]:
    """(failures, checked, unknown parameters) of the matrix over ``client``'s app, as the owner
    of workspace A (every permission, a fresh second factor, a key with every key scope)."""
    signed_in_owner(client, engine)
    owner_cookie = client.cookies["hushdesk_session"]
    with unit_of_work(app_sessions(client)) as session:
        session.add(
            Agent(workspace_id=workspace_id_of(client, email=OWNER_EMAIL), name="Our agent", slug="our-agent")
        )
    key = _all_scopes_key(client)
    other = _workspace_b_ids(client)
    client.cookies.clear()
    client.cookies.set("hushdesk_session", owner_cookie)
    csrf = csrf_from(client.get("/account/security", headers={"accept": "text/html"}).text)

    failures: list[str] = []
    checked: list[str] = []
    unknown: list[str] = []
    for route in flat_routes(client.app.routes):  # type: ignore[attr-defined]
        names = _PARAM.findall(route.path)
        declaration = declaration_of(route)
        if not names or isinstance(declaration, PublicRoute):
            continue  # id-less routes, and public links that carry a secret rather than an id
        if any(name not in other for name in names):
            unknown.append(f"{route.path}: {[name for name in names if name not in other]}")
            continue
        path = _PARAM.sub(lambda match: str(other[match.group(1)]), route.path)
        for method in sorted(route.methods or ()):
            before = _snapshot(engine)
            if isinstance(declaration, ApiScopeCheck):
                response = client.request(method, path, headers={"authorization": f"Bearer {key}"})
            elif method == "GET":
                response = client.get(path, headers={"accept": "application/json"})
            else:
                response = client.request(
                    method,
                    path,
                    data={"csrf_token": csrf, "role": "support", "agent_ids": [str(other["agent_id"])]},
                    headers={"accept": "application/json"},
                )
            label = f"{method} {route.path}"
            checked.append(label)
            if response.status_code != 404 or response.json().get("error", {}).get("code") != "not_found":
                failures.append(f"{label}: {response.status_code} {response.text[:200]}")
            elif _snapshot(engine) != before:
                failures.append(f"{label} changed the database")
    return failures, checked, unknown


def test_ids_of_another_workspace_are_not_found_and_change_nothing(
    matrix_client: TestClient, engine: Engine
) -> None:
    failures, checked, unknown = _run_matrix(matrix_client, engine)
    assert failures == []
    assert unknown == [], f"id parameters the matrix does not know: {unknown}"
    # The matrix must have reached the routes it exists for.
    for expected in (
        "GET /agents/{agent_id}",
        "POST /team/members/{membership_id}/role",
        "GET /api/v1/agents/{agent_id}",
        "POST /agents/{agent_id}/settings",
        "POST /agents/{agent_id}/knowledge/files",
        "POST /agents/{agent_id}/knowledge/documents/{document_id}/delete",
        "GET /agents/{agent_id}/knowledge/imports/{import_id}",
        "GET /conversations/{conversation_id}",
        "GET /conversations/{conversation_id}/events",
        "GET /conversations/{conversation_id}/attachments/{attachment_id}",
        "POST /conversations/{conversation_id}/reply",
        "POST /conversations/{conversation_id}/take",
        "GET /api/v1/conversations/{conversation_id}",
    ):
        assert expected in checked
    assert len(checked) >= 10


def test_the_matrix_catches_a_route_that_leaks_across_workspaces(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    app = create_app(make_settings(tmp_path), engine=sqlite_engine)

    @app.get("/leaky/{agent_id}", dependencies=[requires(Permission.AGENT_READ)])
    def leaky(agent_id: uuid.UUID, db: DbSession) -> dict[str, str]:
        agent = db.get(Agent, agent_id)  # no principal: the mistake the matrix exists to catch
        if agent is None:
            raise NotFound()
        return {"name": agent.name}

    @app.get("/mystery/{thing_id}", dependencies=[requires(Permission.AGENT_READ)])
    def mystery(thing_id: uuid.UUID) -> dict[str, str]:
        raise NotFound()

    with TestClient(app) as client:
        failures, _checked, unknown = _run_matrix(client, sqlite_engine)
    assert [failure.split(":")[0] for failure in failures] == ["GET /leaky/{agent_id}"]
    assert unknown == ["/mystery/{thing_id}: ['thing_id']"]


def test_a_missing_id_looks_exactly_like_another_workspaces(
    matrix_client: TestClient, engine: Engine
) -> None:
    client = matrix_client
    signed_in_owner(client, engine)
    owner_cookie = client.cookies["hushdesk_session"]
    other = _workspace_b_ids(client)
    client.cookies.clear()
    client.cookies.set("hushdesk_session", owner_cookie)
    theirs = client.get(f"/agents/{other['agent_id']}", headers={"accept": "application/json"})
    missing = client.get(f"/agents/{uuid.uuid4()}", headers={"accept": "application/json"})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
