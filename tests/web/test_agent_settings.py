"""An agent's settings page: saving (versioned, audited by field name), refusing bad input with
nothing changed, who may change which agent, and deleting an agent."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, select, update

from hushdesk.agents.config import list_versions
from hushdesk.agents.knowledge.models import KnowledgeChunk, KnowledgeDocument
from hushdesk.agents.models import Agent, AgentAssignment, AgentConfigVersion
from hushdesk.audit.models import AuditEvent
from hushdesk.identity.models import Membership, WebSession
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.settings import Settings
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
JSON = {"accept": "application/json"}
PROMPT = "Answer as Quill, the bookshop's assistant. Never discuss the staff rota."


def _get(client: TestClient, path: str) -> Response:
    response: Response = client.get(path, headers=HTML, follow_redirects=False)
    return response


def _post(
    client: TestClient, path: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> Response:
    response: Response = client.post(path, data=data, headers=headers or HTML, follow_redirects=False)
    return response


def _created_agent(client: TestClient, name: str = "Quill") -> uuid.UUID:
    """An agent made through the page, so that it has its first version."""
    created = _post(client, "/agents", {"name": name, "csrf_token": csrf_from(_get(client, "/agents").text)})
    assert created.status_code == 303
    return uuid.UUID(created.headers["location"].rsplit("/", 1)[1])


def _form(client: TestClient, agent_id: uuid.UUID, **changes: str) -> dict[str, str]:
    """The settings form as the page renders it (the defaults), with ``changes``."""
    form = {
        "csrf_token": csrf_from(_get(client, f"/agents/{agent_id}/settings").text),
        "name": "Quill",
        "system_prompt": "",
        "greeting": "",
        "consent_notice": "",
        "tone": "friendly",
        "temperature": "0.2",
        "retrieval_mode": "lexical",
        "handoff_on_request": "true",
        "handoff_min_score": "0",
        "handoff_after_failures": "2",
        "allowed_domains": "",
    }
    form.update(changes)
    return form


def _agent(client: TestClient, agent_id: uuid.UUID) -> Agent | None:
    with unit_of_work(app_sessions(client)) as session:
        found = session.get(Agent, agent_id)
        if found is not None:
            session.expunge(found)
        return found


def _versions(client: TestClient, agent_id: uuid.UUID) -> list[AgentConfigVersion]:
    with unit_of_work(app_sessions(client)) as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        versions = list_versions(session, agent)
        session.expunge_all()
        return versions


def _events(client: TestClient, action: str) -> list[AuditEvent]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _member(client: TestClient, email: str, role: str, agents: list[uuid.UUID]) -> None:
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    user_id = add_member(client, workspace_id=workspace_id, email=email, role=role, name=email.split("@")[0])
    with unit_of_work(app_sessions(client)) as session:
        membership_id = session.scalars(select(Membership.id).where(Membership.user_id == user_id)).one()
        session.add_all(
            AgentAssignment(workspace_id=workspace_id, agent_id=agent_id, membership_id=membership_id)
            for agent_id in agents
        )


def test_saving_makes_a_version_and_audits_the_field_names_not_the_values(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    form = _form(
        client,
        agent_id,
        system_prompt=PROMPT,
        tone="formal",
        allowed_domains="Shop.Example.com\n*.example.org, shop.example.com",
    )
    saved = _post(client, f"/agents/{agent_id}/settings", form)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/agents/{agent_id}/settings?saved=1"
    agent = _agent(client, agent_id)
    assert agent is not None
    assert (agent.tone, agent.system_prompt, agent.config_version) == ("formal", PROMPT, 2)
    assert agent.allowed_domains == ["shop.example.com", "*.example.org"]
    versions = _versions(client, agent_id)
    assert [version.version for version in versions] == [2, 1]
    assert versions[0].changed_fields == ["system_prompt", "tone", "allowed_domains"]
    assert versions[0].snapshot["system_prompt"] == PROMPT
    (event,) = _events(client, "agent.config.updated")
    assert event.data == {"version": 2, "fields": "system_prompt,tone,allowed_domains"}
    assert PROMPT not in str(event.data)
    page = _get(client, saved.headers["location"])
    assert "Saved as version 2." in page.text
    assert "System prompt, Tone, Website domains" in page.text
    assert "Ada Owner" in page.text


def test_saving_the_same_settings_makes_no_version(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    saved = _post(client, f"/agents/{agent_id}/settings", _form(client, agent_id))
    assert saved.headers["location"] == f"/agents/{agent_id}/settings?unchanged=1"
    assert len(_versions(client, agent_id)) == 1
    assert _events(client, "agent.config.updated") == []


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("temperature", "5", "The temperature is between 0 and 1."),
        ("temperature", "warm", "The temperature is a number between 0 and 1."),
        ("temperature", "nan", "The temperature is between 0 and 1."),
        ("tone", "evil", "The tone is one of: friendly, formal, concise."),
        ("retrieval_mode", "psychic", "The retrieval mode is one of"),
        ("allowed_domains", "http://x/y", "is not a domain name"),
        ("system_prompt", "x" * 9000, "The system prompt is at most 8000 characters."),
        ("greeting", "Hello \x1b[31mthere", "The greeting may not contain control characters."),
        ("name", "Quill\x07", "may not contain control characters"),
        ("handoff_after_failures", "2.5", "Hand off after 1 to 10 unanswered questions in a row."),
        ("handoff_min_score", "101", "The minimum relevance score is between 0 and 100."),
    ],
)
def test_bad_input_is_shown_again_with_its_problem_and_changes_nothing(
    client: TestClient, sqlite_engine: Engine, field: str, value: str, says: str
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    form = _form(client, agent_id, **{"tone": "concise", field: value})
    refused = _post(client, f"/agents/{agent_id}/settings", form)
    assert refused.status_code == 422
    assert says in refused.text.replace("&#39;", "'")
    assert 'action="/agents/' in refused.text  # the form, shown again
    agent = _agent(client, agent_id)
    assert agent is not None
    assert (agent.tone, agent.config_version) == ("friendly", 1)
    assert len(_versions(client, agent_id)) == 1
    assert _events(client, "agent.config.updated") == []


def test_a_manager_changes_an_agent_assigned_to_them_and_no_other(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    theirs = _created_agent(client, "Quill")
    other = _created_agent(client, "Ledger")
    _member(client, "max@example.com", "manager", [theirs])
    sign_in_directly(client, email="max@example.com")
    saved = _post(client, f"/agents/{theirs}/settings", _form(client, theirs, tone="concise"))
    assert saved.status_code == 303
    assert _versions(client, theirs)[0].actor_id != _versions(client, theirs)[1].actor_id
    assert _get(client, f"/agents/{other}/settings").status_code == 404
    form = _form(client, theirs, name="Ledger", tone="concise")
    assert _post(client, f"/agents/{other}/settings", form).status_code == 404
    ledger = _agent(client, other)
    assert ledger is not None
    assert ledger.tone == "friendly"


@pytest.mark.parametrize("role", ["support", "auditor"])
def test_support_people_and_auditors_cannot_change_settings(
    client: TestClient, sqlite_engine: Engine, role: str
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    form = _form(client, agent_id, tone="concise")
    _member(client, f"{role}@example.com", role, [agent_id])
    sign_in_directly(client, email=f"{role}@example.com")
    form["csrf_token"] = csrf_from(_get(client, "/account/security").text)
    assert _get(client, f"/agents/{agent_id}/settings").status_code == 403
    assert _post(client, f"/agents/{agent_id}/settings", form, JSON).status_code == 403
    assert len(_versions(client, agent_id)) == 1


def test_the_agent_page_links_settings_for_those_who_may_change_them(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    owner_page = _get(client, f"/agents/{agent_id}").text
    assert f'href="/agents/{agent_id}/settings"' in owner_page
    assert f'href="/agents/{agent_id}/knowledge"' in owner_page
    _member(client, "sam@example.com", "support", [agent_id])
    sign_in_directly(client, email="sam@example.com")
    support_page = _get(client, f"/agents/{agent_id}").text
    assert "/settings" not in support_page
    assert f'href="/agents/{agent_id}/knowledge"' in support_page


def _agent_with_a_document(client: TestClient) -> uuid.UUID:
    agent_id = _created_agent(client)
    page = _get(client, f"/agents/{agent_id}/knowledge")
    pasted = _post(
        client,
        f"/agents/{agent_id}/knowledge/text",
        {"csrf_token": csrf_from(page.text), "title": "Returns", "text": "Return items within 30 days."},
    )
    assert pasted.status_code == 200
    files = client.post(
        f"/agents/{agent_id}/knowledge/files",
        data={"csrf_token": csrf_from(page.text)},
        files=[("files", ("faq.md", b"# FAQ\n\nWe ship to Canada.\n", "text/markdown"))],
        headers=HTML,
    )
    assert files.status_code == 200
    return agent_id


def _stored_files(settings: Settings) -> list[str]:
    uploads = settings.uploads_dir
    return [path.name for path in uploads.rglob("*") if path.is_file()] if uploads.exists() else []


def test_deleting_an_agent_needs_its_name_and_removes_everything(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent_with_a_document(client)
    assert len(_stored_files(settings)) == 2  # pasted text keeps its original too
    csrf = csrf_from(_get(client, f"/agents/{agent_id}/settings").text)
    wrong = _post(client, f"/agents/{agent_id}/delete", {"csrf_token": csrf, "confirm_name": "Quil"})
    assert wrong.status_code == 422
    assert "Type the agent&#39;s name exactly" in wrong.text
    assert _agent(client, agent_id) is not None
    deleted = _post(client, f"/agents/{agent_id}/delete", {"csrf_token": csrf, "confirm_name": " Quill "})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/agents"
    assert _agent(client, agent_id) is None
    with unit_of_work(app_sessions(client)) as session:
        for model in (KnowledgeDocument, KnowledgeChunk, AgentConfigVersion):
            assert session.scalar(select(func.count()).select_from(model)) == 0
    assert _stored_files(settings) == []
    (event,) = _events(client, "agent.deleted")
    assert event.target_id == str(agent_id)
    assert _get(client, f"/agents/{agent_id}").status_code == 404


def test_deleting_an_agent_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    csrf = csrf_from(_get(client, f"/agents/{agent_id}/settings").text)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=30)))
    refused = _post(client, f"/agents/{agent_id}/delete", {"csrf_token": csrf, "confirm_name": "Quill"}, JSON)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    assert _agent(client, agent_id) is not None


def test_a_manager_cannot_delete_even_an_assigned_agent(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _created_agent(client)
    _member(client, "max@example.com", "manager", [agent_id])
    sign_in_directly(client, email="max@example.com")
    page = _get(client, f"/agents/{agent_id}/settings")
    assert page.status_code == 200
    assert f'action="/agents/{agent_id}/delete"' not in page.text
    form = {"csrf_token": csrf_from(page.text), "confirm_name": "Quill"}
    assert _post(client, f"/agents/{agent_id}/delete", form, JSON).status_code == 403
    assert _agent(client, agent_id) is not None
