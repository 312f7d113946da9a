"""An agent's provider page: what it shows (never the key), who may change it (with a fresh
second factor), the region and acknowledgement rules, and refusals that change nothing."""

from __future__ import annotations

import datetime as dt
import html
import json
import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select, update

from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.agents.providers.base import ProviderKind
from hushdesk.agents.providers.facts import FACTS_VERSION, facts_for
from hushdesk.agents.service import do_create_agent
from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.credentials.models import Credential
from hushdesk.identity.models import Membership, WebSession
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.web.authz import PermissionCheck
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
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

HTML = {"accept": "text/html"}
API_KEY = "sk-proj-Zq8xW3vN5bT1yU7pK2mR"
OPERATOR = Actor(ActorKind.OPERATOR, "os:test")


def _agent(client: TestClient, workspace_id: uuid.UUID, name: str = "Support") -> uuid.UUID:
    with unit_of_work(app_sessions(client)) as session:
        agent = do_create_agent(session, workspace_id=workspace_id, name=name)
        do_record_first_version(session, agent, actor=OPERATOR)
        return agent.id


def _owner_with_agent(client: TestClient, engine: Engine) -> uuid.UUID:
    signed_in_owner(client, engine)
    return _agent(client, workspace_id_of(client, email=OWNER_EMAIL))


def _page(agent_id: uuid.UUID) -> str:
    return f"/agents/{agent_id}/provider"


def _get(client: TestClient, agent_id: uuid.UUID) -> Response:
    response: Response = client.get(_page(agent_id), headers=HTML, follow_redirects=False)
    return response


def _post(client: TestClient, agent_id: uuid.UUID, **fields: Any) -> Response:
    form: dict[str, Any] = {"csrf_token": csrf_from(_get(client, agent_id).text)}
    form.update(fields)
    response: Response = client.post(_page(agent_id), data=form, headers=HTML, follow_redirects=False)
    return response


def _openai(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "openai",
        "model": "gpt-4o-mini",
        "data_region": "eu",
        "api_key": API_KEY,
        "acknowledge": ["openai"],
    }
    fields.update(overrides)
    return fields


def _stored(client: TestClient, agent_id: uuid.UUID) -> Agent:
    with unit_of_work(app_sessions(client)) as session:
        agent = session.get_one(Agent, agent_id)
        session.expunge(agent)
        return agent


def _events(client: TestClient, action: str | None = None) -> list[AuditEvent]:
    with unit_of_work(app_sessions(client)) as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        events = list(session.scalars(query))
        session.expunge_all()
        return events


def _credentials(client: TestClient) -> int:
    with unit_of_work(app_sessions(client)) as session:
        return int(session.scalar(select(func.count()).select_from(Credential)) or 0)


def _text(response: Response) -> str:
    return html.unescape(response.text)


def test_the_page_shows_the_offline_default_and_every_kinds_facts(
    client: TestClient, sqlite_engine: Engine
) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    page = _get(client, agent_id)
    assert page.status_code == 200
    text = _text(page)
    assert "Offline answers from the knowledge base (no model)" in text
    assert "None stored" in text
    for kind in ProviderKind:
        facts = facts_for(kind)
        assert facts.processor in text
        assert facts.retention in text
        assert facts.training_use in text
        if facts.dpa_url:
            assert f'href="{facts.dpa_url}"' in text
    # One acknowledgement checkbox per third party, and none for the others.
    assert text.count('name="acknowledge"') == 3
    assert 'value="extractive" checked' in text
    assert 'type="password"' in text
    assert "Ready to answer</dt><dd>Yes" in text


def test_the_page_says_why_a_provider_cannot_answer(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    assert _post(client, agent_id, **_openai()).status_code == 303
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(Agent).where(Agent.id == agent_id).values(facts_acknowledged=None))
    text = _text(_get(client, agent_id))
    assert "Ready to answer</dt><dd>No: its data-processing facts are not acknowledged" in text
    # Nothing is ticked for the admin: the facts are to be read and acknowledged again.
    assert 'name="acknowledge" value="openai" checked' not in text


def test_choosing_openai_stores_the_key_sealed_and_audits_the_acknowledgement(
    client: TestClient, sqlite_engine: Engine
) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    saved = _post(client, agent_id, **_openai())
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{_page(agent_id)}?saved=1"
    agent = _stored(client, agent_id)
    assert (agent.provider_kind, agent.model, agent.provider_data_region) == ("openai", "gpt-4o-mini", "eu")
    assert agent.credential_id is not None
    assert agent.facts_acknowledged == FACTS_VERSION
    (acknowledged,) = _events(client, "agent.provider.facts_acknowledged")
    assert acknowledged.data == {"provider": "openai", "facts_version": FACTS_VERSION}
    assert acknowledged.target_id == str(agent_id)
    page = client.get(saved.headers["location"], headers=HTML)
    assert "Saved." in page.text
    assert "A key is stored" in page.text
    assert "https://eu.api.openai.com/v1" in page.text
    assert API_KEY not in page.text
    assert API_KEY[:-4] not in page.text
    for event in _events(client):
        assert API_KEY not in json.dumps(event.data)


def test_a_blank_key_keeps_the_stored_one(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    assert _post(client, agent_id, **_openai()).status_code == 303
    first_key = _stored(client, agent_id).credential_id
    changed = _post(client, agent_id, **_openai(model="gpt-4.1-mini", api_key=""))
    assert changed.status_code == 303
    agent = _stored(client, agent_id)
    assert agent.model == "gpt-4.1-mini"
    assert agent.credential_id == first_key
    assert _credentials(client) == 1


def test_going_back_offline_removes_the_key(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    assert _post(client, agent_id, **_openai()).status_code == 303
    offline = _post(client, agent_id, kind="extractive", model="", data_region="eu")
    assert offline.status_code == 303
    agent = _stored(client, agent_id)
    assert (agent.provider_kind, agent.credential_id, agent.facts_acknowledged) == ("extractive", None, None)
    assert _credentials(client) == 0
    assert "None stored" in _get(client, agent_id).text


def test_a_provider_outside_the_workspaces_region_is_refused(
    client: TestClient, sqlite_engine: Engine
) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    page = _get(client, agent_id).text
    assert "Not available in this workspace's region" in page
    declared_us = _post(
        client,
        agent_id,
        **_openai(kind="anthropic", model="claude-sonnet-4-5", data_region="us", acknowledge=["anthropic"]),
    )
    assert declared_us.status_code == 422
    assert "This workspace's data stays in the EU region" in _text(declared_us)
    declared_eu = _post(
        client, agent_id, **_openai(kind="anthropic", model="claude-sonnet-4-5", acknowledge=["anthropic"])
    )
    assert declared_eu.status_code == 422
    assert "cannot process data in that region" in _text(declared_eu)
    agent = _stored(client, agent_id)
    assert (agent.provider_kind, agent.credential_id) == ("extractive", None)
    assert _credentials(client) == 0


def test_a_third_party_without_acknowledgement_is_refused_and_the_key_not_echoed(
    client: TestClient, sqlite_engine: Engine
) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    refused = _post(client, agent_id, **_openai(acknowledge=[]))
    assert refused.status_code == 422
    assert "acknowledge them" in _text(refused)
    assert API_KEY not in refused.text
    assert 'value="gpt-4o-mini"' in refused.text
    assert _stored(client, agent_id).provider_kind == "extractive"
    assert _events(client, "agent.provider.facts_acknowledged") == []


def test_acknowledging_another_kind_does_not_count(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    refused = _post(client, agent_id, **_openai(acknowledge=["anthropic", "azure-openai"]))
    assert refused.status_code == 422
    assert _stored(client, agent_id).provider_kind == "extractive"


def test_a_refusal_half_way_through_changes_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    # The key is checked when it is stored, after the settings were applied: the savepoint
    # takes those back.
    agent_id = _owner_with_agent(client, sqlite_engine)
    events_before = len(_events(client))
    refused = _post(client, agent_id, **_openai(api_key="short"))
    assert refused.status_code == 422
    assert "8 to 8192 characters" in refused.text
    agent = _stored(client, agent_id)
    assert (agent.provider_kind, agent.model, agent.facts_acknowledged) == ("extractive", "", None)
    assert agent.config_version == 1
    assert _credentials(client) == 0
    assert len(_events(client)) == events_before


def test_a_base_url_with_credentials_is_not_shown_again(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    refused = _post(
        client,
        agent_id,
        kind="openai-compatible",
        model="llama3.1:8b",
        base_url="https://admin:hunter2-secret@llm.internal.example/v1",
        api_key="",
    )
    assert refused.status_code == 422
    assert "must not contain credentials" in refused.text
    assert "hunter2-secret" not in refused.text


def test_a_bad_model_name_is_shown_with_its_message(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    refused = _post(client, agent_id, **_openai(model="gpt 4o; rm -rf"))
    assert refused.status_code == 422
    assert "may contain only letters, digits" in refused.text


def test_saving_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    csrf = csrf_from(_get(client, agent_id).text)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=30)))
    refused = client.post(
        _page(agent_id), data={"csrf_token": csrf, **_openai()}, headers={"accept": "application/json"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    assert _stored(client, agent_id).provider_kind == "extractive"


def test_saving_needs_the_csrf_token(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    refused = client.post(_page(agent_id), data={"csrf_token": "0" * 64, **_openai()}, headers=HTML)
    assert refused.status_code == 403
    assert _stored(client, agent_id).provider_kind == "extractive"


def _assigned(client: TestClient, agent_id: uuid.UUID, email: str, role: str) -> None:
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    user_id = add_member(client, workspace_id=workspace_id, email=email, role=role)
    with unit_of_work(app_sessions(client)) as session:
        membership_id = session.scalars(select(Membership.id).where(Membership.user_id == user_id)).one()
        session.add(
            AgentAssignment(workspace_id=workspace_id, agent_id=agent_id, membership_id=membership_id)
        )


def test_a_manager_of_the_agent_may_change_it(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    _assigned(client, agent_id, "max@example.com", "manager")
    sign_in_directly(client, email="max@example.com")
    assert _post(client, agent_id, **_openai()).status_code == 303
    assert _stored(client, agent_id).provider_kind == "openai"


def test_a_manager_of_other_agents_does_not_find_it(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    other = _agent(client, workspace_id_of(client, email=OWNER_EMAIL), "Sales")
    _assigned(client, other, "max@example.com", "manager")
    sign_in_directly(client, email="max@example.com")
    assert _get(client, agent_id).status_code == 404


def test_a_support_person_reads_the_facts_but_cannot_change_them(
    client: TestClient, sqlite_engine: Engine
) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    _assigned(client, agent_id, "sam@example.com", "support")
    sign_in_directly(client, email="sam@example.com")
    page = _get(client, agent_id)
    assert page.status_code == 200
    assert 'name="api_key"' not in page.text
    assert 'name="acknowledge"' not in page.text
    refused = client.post(
        _page(agent_id), data={"csrf_token": csrf_from(page.text), **_openai()}, headers=HTML
    )
    assert refused.status_code == 403
    assert _stored(client, agent_id).provider_kind == "extractive"


def test_an_auditor_has_no_provider_page(client: TestClient, sqlite_engine: Engine) -> None:
    agent_id = _owner_with_agent(client, sqlite_engine)
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    add_member(client, workspace_id=workspace_id, email="aud@example.com", role="auditor")
    sign_in_directly(client, email="aud@example.com")
    assert _get(client, agent_id).status_code == 403


def test_another_workspaces_agent_is_not_found(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        other = do_create_workspace(session, name="Other", region=Region.EU)
    foreign = _agent(client, other.id)
    assert _get(client, foreign).status_code == 404
    own = _agent(client, workspace_id_of(client, email=OWNER_EMAIL))
    csrf = csrf_from(_get(client, own).text)
    refused = client.post(_page(foreign), data={"csrf_token": csrf, **_openai()}, headers=HTML)
    assert refused.status_code == 404
    assert _stored(client, foreign).provider_kind == "extractive"


def test_reading_is_agent_read_and_saving_is_fresh_agent_write(client: TestClient) -> None:
    declared = {}
    for route in flat_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path == "/agents/{agent_id}/provider":
            for method in route.methods or ():
                check = declaration_of(route)
                assert isinstance(check, PermissionCheck)
                declared[method] = (check.permission, check.fresh)
    assert declared == {
        "GET": (Permission.AGENT_READ, False),
        "POST": (Permission.AGENT_WRITE, True),
    }
