"""The agents pages: who sees which agents, who creates them, and 404 for the rest."""

from __future__ import annotations

import re
import uuid

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.audit.models import AuditEvent
from hushdesk.identity.models import Membership
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace, slugify
from tests.web.helpers import (
    OWNER_EMAIL,
    add_member,
    app_sessions,
    csrf_from,
    sign_in_directly,
    signed_in_owner,
    workspace_id_of,
)

HTML = {"accept": "text/html"}


def _get(client: TestClient, path: str) -> Response:
    response: Response = client.get(path, headers=HTML, follow_redirects=False)
    return response


def _post(client: TestClient, path: str, data: dict[str, str]) -> Response:
    response: Response = client.post(path, data=data, headers=HTML, follow_redirects=False)
    return response


def _csrf(client: TestClient) -> str:
    return csrf_from(_get(client, "/agents").text)


def _agent(client: TestClient, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    with unit_of_work(app_sessions(client)) as session:
        agent = Agent(workspace_id=workspace_id, name=name, slug=slugify(name))
        session.add(agent)
        session.flush()
        return agent.id


def _member(
    client: TestClient, workspace_id: uuid.UUID, email: str, role: str, agents: list[uuid.UUID]
) -> None:
    user_id = add_member(
        client, workspace_id=workspace_id, email=email, role=role, name=email.split("@")[0].title()
    )
    with unit_of_work(app_sessions(client)) as session:
        membership_id = session.scalars(select(Membership.id).where(Membership.user_id == user_id)).one()
        session.add_all(
            AgentAssignment(workspace_id=workspace_id, agent_id=agent_id, membership_id=membership_id)
            for agent_id in agents
        )


def _agent_count(client: TestClient) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return int(session.scalar(select(func.count()).select_from(Agent)) or 0)


def _listed(page: Response) -> list[str]:
    return re.findall(r'<li><a href="/agents/[0-9a-f-]+">([^<]+)</a></li>', page.text)


def test_an_owner_creates_an_agent_and_sees_every_one(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    _agent(client, workspace_id, "Billing bot")
    created = _post(client, "/agents", {"name": "  Sales   bot ", "csrf_token": _csrf(client)})
    assert created.status_code == 303
    location = created.headers["location"]
    assert re.fullmatch(r"/agents/[0-9a-f-]{36}", location)
    page = _get(client, location)
    assert page.status_code == 200
    assert "<h1>Sales bot</h1>" in page.text
    assert "Nobody is assigned yet" in page.text
    assert _listed(_get(client, "/agents")) == ["Billing bot", "Sales bot"]
    with unit_of_work(app_sessions(client)) as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "agent.created")).all()
    assert event.target_id == location.rsplit("/", 1)[1]


def test_a_bad_name_shows_the_form_again_and_creates_nothing(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    response = _post(client, "/agents", {"name": "   ", "csrf_token": _csrf(client)})
    assert response.status_code == 422
    assert "name of 1 to 120 characters" in response.text
    assert _agent_count(client) == 0


def test_creating_an_agent_needs_the_csrf_token(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    assert _post(client, "/agents", {"name": "Sales bot"}).status_code == 403
    assert _post(client, "/agents", {"name": "Sales bot", "csrf_token": "0" * 64}).status_code == 403
    assert _agent_count(client) == 0


def test_a_manager_sees_only_their_agents_and_cannot_create_one(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    billing = _agent(client, workspace_id, "Billing bot")
    sales = _agent(client, workspace_id, "Sales bot")
    _member(client, workspace_id, "max@example.com", "manager", [billing])
    sign_in_directly(client, email="max@example.com")
    page = _get(client, "/agents")
    assert _listed(page) == ["Billing bot"]
    assert 'action="/agents"' not in page.text
    assert _get(client, f"/agents/{billing}").status_code == 200
    assert _get(client, f"/agents/{sales}").status_code == 404
    assert _get(client, f"/agents/{uuid.uuid4()}").status_code == 404
    refused = _post(client, "/agents", {"name": "Sneaky bot", "csrf_token": _csrf(client)})
    assert refused.status_code == 403
    assert _agent_count(client) == 2


def test_a_support_person_sees_only_their_agents(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    billing = _agent(client, workspace_id, "Billing bot")
    sales = _agent(client, workspace_id, "Sales bot")
    _member(client, workspace_id, "sam@example.com", "support", [sales])
    sign_in_directly(client, email="sam@example.com")
    assert _listed(_get(client, "/agents")) == ["Sales bot"]
    assert _get(client, f"/agents/{billing}").status_code == 404
    # Support people do not change agents at all.
    assert _post(client, "/agents", {"name": "x", "csrf_token": _csrf(client)}).status_code == 403


def test_an_auditor_has_no_agents_page(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    billing = _agent(client, workspace_id, "Billing bot")
    add_member(client, workspace_id=workspace_id, email="audrey@example.com", role="auditor")
    sign_in_directly(client, email="audrey@example.com")
    assert client.get("/agents").status_code == 403
    assert client.get(f"/agents/{billing}").status_code == 403


def test_an_agent_page_lists_assigned_members_for_those_who_see_the_team(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    billing = _agent(client, workspace_id, "Billing bot")
    _member(client, workspace_id, "max@example.com", "manager", [billing])
    _member(client, workspace_id, "sam@example.com", "support", [billing])
    page = _get(client, f"/agents/{billing}")
    assert re.findall(r'<a href="/team/members/[0-9a-f-]+">([^<]+)</a>', page.text) == ["Max", "Sam"]
    sign_in_directly(client, email="max@example.com")
    manager_view = _get(client, f"/agents/{billing}")
    assert manager_view.status_code == 200
    assert "Assigned members" not in manager_view.text
    assert "Sam" not in manager_view.text


def test_another_workspaces_agent_is_not_found(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        rival = do_create_workspace(session, name="Rival", region=Region.EU).id
    rival_agent = _agent(client, rival, "Rival bot")
    assert _get(client, f"/agents/{rival_agent}").status_code == 404
    assert "Rival bot" not in _get(client, "/agents").text
