"""The preview chat: replies from the agent's own knowledge, offline or through a model (with
personal data pseudonymised on the way out and restored on the way back), what each reply
did, turns carried in the page only, the limits, and who may use it."""

from __future__ import annotations

import html
import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, update

from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.knowledge.extraction import ExtractionLimits
from hushdesk.agents.knowledge.ingest import do_store_document, prepare_text
from hushdesk.agents.knowledge.search import KnowledgeIndexCache
from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.agents.provider_setup import ProviderChoice, do_set_provider
from hushdesk.agents.providers.registry import check_provider_settings
from hushdesk.agents.runtime import AssistantServices
from hushdesk.agents.service import do_create_agent
from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.identity.models import Membership
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.http import OutboundPolicy, build_http_client
from hushdesk.privacy.pii import Detector
from hushdesk.settings import Settings
from hushdesk.web.authz import PermissionCheck
from hushdesk.web.preview_pages import MAX_MESSAGE_CHARS, MAX_TURN_CHARS, MAX_TURNS
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.agents.providers.wire import Script, event_stream, openai_stream, openai_stream_body
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
OPERATOR = Actor(ActorKind.OPERATOR, "os:test")
API_KEY = "sk-proj-Zq8xW3vN5bT1yU7pK2mR"
REFUNDS = (
    "Refunds are paid back within 5 business days after we receive the returned item. "
    "The money goes back to the card you paid with."
)
EMAIL, PHONE = "ada.lovelace@example.com", "+31 6 12345678"
QUESTION = "How many business days until refunds are paid back?"
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_[0-9]+>")
HIDDEN = re.compile(r'<input type="hidden" name="(turn_[a-z]+)" value="([^"]*)">')


def _agent(client: TestClient, workspace_id: uuid.UUID, name: str = "Support") -> uuid.UUID:
    with unit_of_work(app_sessions(client)) as session:
        agent = do_create_agent(session, workspace_id=workspace_id, name=name)
        do_record_first_version(session, agent, actor=OPERATOR)
        return agent.id


def _store_refunds(client: TestClient, agent_id: uuid.UUID) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    with unit_of_work(app_sessions(client)) as session:
        agent = session.get_one(Agent, agent_id)
        do_store_document(
            session,
            agent,
            prepare_text(source="Refunds", text=REFUNDS),
            files=EncryptedFileStore(settings.uploads_dir),
            actor=OPERATOR,
            max_file_bytes=ExtractionLimits().max_bytes,
        )


def _use_openai(client: TestClient, agent_id: uuid.UUID) -> None:
    with unit_of_work(app_sessions(client)) as session:
        agent = session.get_one(Agent, agent_id)
        settings = check_provider_settings(kind="openai", model="gpt-4o-mini", data_region="eu")
        choice = ProviderChoice(settings=settings, api_key=SecretStr(API_KEY), acknowledged=True)
        do_set_provider(session, agent, choice, workspace_region="eu", actor=OPERATOR)


@pytest.fixture
def agent_id(client: TestClient, sqlite_engine: Engine) -> uuid.UUID:
    """The owner, signed in, and an agent of theirs that knows about refunds."""
    signed_in_owner(client, sqlite_engine)
    created = _agent(client, workspace_id_of(client, email=OWNER_EMAIL))
    _store_refunds(client, created)
    return created


@pytest.fixture
def model(app: FastAPI, detector: Detector) -> Callable[..., Script]:
    """Put a scripted OpenAI endpoint in place of the network; returns the script."""

    def install(*replies: Callable[[httpx.Request], httpx.Response]) -> Script:
        script = Script(*replies)
        app.state.assistant = AssistantServices(
            detector=lambda: detector,
            index_cache=KnowledgeIndexCache(),
            http_client=lambda: build_http_client(
                OutboundPolicy(), version="test", transport=httpx.MockTransport(script)
            ),
        )
        return script

    return install


def _path(agent_id: uuid.UUID) -> str:
    return f"/agents/{agent_id}/preview"


def _send(client: TestClient, agent_id: uuid.UUID, message: str, **fields: Any) -> Response:
    form: dict[str, Any] = {"csrf_token": csrf_from(client.get(_path(agent_id), headers=HTML).text)}
    form.update(fields)
    form["message"] = message
    response: Response = client.post(_path(agent_id), data=form, headers=HTML, follow_redirects=False)
    return response


def _carried(page: Response) -> dict[str, list[str]]:
    carried: dict[str, list[str]] = {}
    for name, value in HIDDEN.findall(page.text):
        carried.setdefault(name, []).append(html.unescape(value))
    return carried


def _sent(script: Script, index: int = 0) -> str:
    return "\n".join(str(message["content"]) for message in script.body(index)["messages"])


def _echoing_placeholders(request: httpx.Request) -> httpx.Response:
    """Answers from the passage, greeting with every placeholder of the customer's message."""
    body = json.loads(request.content)
    last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    greeting = " ".join(PLACEHOLDER.findall(last))
    return event_stream(
        openai_stream_body(
            f"Thanks, I will write to {greeting}. ", "Refunds are paid back within 5 business days [1]."
        )
    )(request)


def test_the_offline_default_answers_from_the_agents_document(
    client: TestClient, agent_id: uuid.UUID
) -> None:
    page = _send(client, agent_id, QUESTION)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = html.unescape(page.text)
    assert "Refunds are paid back within 5 business days" in text
    assert "Answered" in text
    assert "[1] Refunds" in text
    assert "None fired" in text


def test_the_empty_page_is_not_stored_by_the_browser(client: TestClient, agent_id: uuid.UUID) -> None:
    page = client.get(_path(agent_id), headers=HTML)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "No messages yet." in page.text
    assert f'<form method="get" action="{_path(agent_id)}">' in page.text
    assert "Start over" in page.text


def test_a_question_the_documents_do_not_answer_is_not_found(client: TestClient, agent_id: uuid.UUID) -> None:
    text = html.unescape(_send(client, agent_id, "Do you sell garden furniture in Norway?").text)
    assert "Not found" in text
    assert "Answered" not in text


def test_the_model_never_sees_the_customers_email_or_phone(
    client: TestClient, agent_id: uuid.UUID, model: Callable[..., Script]
) -> None:
    _use_openai(client, agent_id)
    script = model(_echoing_placeholders)
    page = _send(client, agent_id, f"Hi, my email is {EMAIL} and my phone is {PHONE}. {QUESTION}")
    assert page.status_code == 200
    assert script.calls == 1
    assert script.requests[0].url.host == "eu.api.openai.com"
    sent = _sent(script)
    for value in (EMAIL, "ada.lovelace", "12345678"):
        assert value not in sent
    assert {"<EMAIL_1>", "<PHONE_1>"} <= set(PLACEHOLDER.findall(sent))
    text = html.unescape(page.text)
    assert f"Thanks, I will write to {EMAIL} {PHONE}." in text
    assert "[1] Refunds" in text


def test_a_model_reply_with_an_image_shows_no_image(
    client: TestClient, agent_id: uuid.UUID, model: Callable[..., Script]
) -> None:
    _use_openai(client, agent_id)
    model(
        openai_stream(
            "Refunds are paid back within 5 business days [1]. ", "![x](https://evil.example/a.png)"
        )
    )
    page = _send(client, agent_id, QUESTION)
    assert page.status_code == 200
    assert "evil.example" not in page.text
    assert "<img" not in page.text
    assert "![x]" not in html.unescape(page.text)
    assert "an image was removed" in page.text


def test_markup_in_a_reply_is_shown_as_text(
    client: TestClient, agent_id: uuid.UUID, model: Callable[..., Script]
) -> None:
    _use_openai(client, agent_id)
    model(openai_stream("<b onmouseover=alert(1)>Refunds</b> are paid back within 5 business days [1]."))
    page = _send(client, agent_id, QUESTION)
    assert "<b onmouseover" not in page.text
    assert "&lt;b onmouseover=alert(1)&gt;" in page.text


def test_earlier_turns_travel_in_the_page_and_reach_the_model(
    client: TestClient, agent_id: uuid.UUID, model: Callable[..., Script]
) -> None:
    _use_openai(client, agent_id)
    script = model(openai_stream("Refunds are paid back within 5 business days [1]."))
    first = _send(client, agent_id, QUESTION)
    carried = _carried(first)
    assert carried["turn_role"] == ["user", "assistant"]
    assert carried["turn_text"] == [QUESTION, "Refunds are paid back within 5 business days [1]."]
    assert carried["turn_outcome"] == ["", "answered"]
    assert carried["turn_cited"] == ["", "Refunds"]
    second = _send(client, agent_id, "And to which card is the money paid back?", **carried)
    assert second.status_code == 200
    roles = [message["role"] for message in script.body(1)["messages"]]
    assert roles[-3:] == ["user", "assistant", "user"]
    assert QUESTION in _sent(script, 1)
    assert _carried(second)["turn_role"] == ["user", "assistant", "user", "assistant"]
    assert second.text.count("<p>Refunds are paid back within 5 business days [1].</p>") == 2


def test_the_page_carries_only_the_last_turns(client: TestClient, agent_id: uuid.UUID) -> None:
    history = {
        "turn_role": ["user", "assistant"] * (MAX_TURNS // 2),
        "turn_text": [f"message {n}" for n in range(MAX_TURNS)],
        "turn_outcome": ["", "not_found"] * (MAX_TURNS // 2),
        "turn_handoff": [""] * MAX_TURNS,
        "turn_cited": [""] * MAX_TURNS,
        "turn_guardrails": [""] * MAX_TURNS,
    }
    page = _send(client, agent_id, QUESTION, **history)
    assert page.status_code == 200
    carried = _carried(page)
    assert len(carried["turn_text"]) == MAX_TURNS
    assert carried["turn_text"][0] == "message 2"
    assert carried["turn_text"][-2] == QUESTION


@pytest.mark.parametrize(
    ("message", "history"),
    [
        ("x" * (MAX_MESSAGE_CHARS + 1), {}),
        ("   ", {}),
        (
            QUESTION,
            {
                "turn_role": ["user"],
                "turn_text": ["y" * (MAX_TURN_CHARS + 1)],
                "turn_outcome": [""],
                "turn_handoff": [""],
                "turn_cited": [""],
                "turn_guardrails": [""],
            },
        ),
        (
            QUESTION,
            {
                key: [""] * (MAX_TURNS + 1)
                for key in ("turn_text", "turn_outcome", "turn_handoff", "turn_cited", "turn_guardrails")
            }
            | {"turn_role": ["user"] * (MAX_TURNS + 1)},
        ),
        (QUESTION, {"turn_role": ["user", "assistant"], "turn_text": ["a"]}),
        (
            QUESTION,
            {
                "turn_role": ["system"],
                "turn_text": ["a"],
                "turn_outcome": [""],
                "turn_handoff": [""],
                "turn_cited": [""],
                "turn_guardrails": [""],
            },
        ),
    ],
    ids=["long message", "empty message", "long turn", "too many turns", "torn history", "unknown role"],
)
def test_input_over_the_limits_is_refused_before_any_model_call(
    client: TestClient,
    agent_id: uuid.UUID,
    model: Callable[..., Script],
    message: str,
    history: dict[str, list[str]],
) -> None:
    _use_openai(client, agent_id)
    script = model(openai_stream("Refunds are paid back within 5 business days [1]."))
    refused = _send(client, agent_id, message, **history)
    assert refused.status_code == 422
    assert refused.headers["cache-control"] == "no-store"
    assert 'class="problem"' in refused.text
    assert script.calls == 0


def test_a_provider_not_ready_links_to_its_page(
    client: TestClient, agent_id: uuid.UUID, model: Callable[..., Script]
) -> None:
    _use_openai(client, agent_id)
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(Agent).where(Agent.id == agent_id).values(facts_acknowledged=None))
    script = model(openai_stream("Refunds are paid back within 5 business days [1]."))
    page = _send(client, agent_id, QUESTION)
    assert page.status_code == 409
    assert "Acknowledge the provider" in html.unescape(page.text)
    assert f'href="/agents/{agent_id}/provider"' in page.text
    assert script.calls == 0


def test_the_conversation_is_neither_logged_nor_audited(
    client: TestClient, agent_id: uuid.UUID, model: Callable[..., Script], caplog: pytest.LogCaptureFixture
) -> None:
    _use_openai(client, agent_id)
    model(_echoing_placeholders)

    def audit_events() -> int:
        with unit_of_work(app_sessions(client)) as session:
            return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)

    before = audit_events()
    with caplog.at_level(logging.DEBUG):
        page = _send(client, agent_id, f"My email is {EMAIL}. {QUESTION}")
    assert page.status_code == 200
    logged = "\n".join(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    assert EMAIL not in logged
    assert "business days" not in logged
    assert audit_events() == before


def _member(client: TestClient, agent_id: uuid.UUID, email: str, role: str) -> None:
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    user_id = add_member(client, workspace_id=workspace_id, email=email, role=role)
    with unit_of_work(app_sessions(client)) as session:
        membership_id = session.scalars(select(Membership.id).where(Membership.user_id == user_id)).one()
        session.add(
            AgentAssignment(workspace_id=workspace_id, agent_id=agent_id, membership_id=membership_id)
        )


def test_an_assigned_manager_may_use_the_preview(client: TestClient, agent_id: uuid.UUID) -> None:
    _member(client, agent_id, "max@example.com", "manager")
    sign_in_directly(client, email="max@example.com")
    assert _send(client, agent_id, QUESTION).status_code == 200


@pytest.mark.parametrize("role", ["support", "auditor"])
def test_support_people_and_auditors_cannot_use_the_preview(
    client: TestClient, agent_id: uuid.UUID, role: str
) -> None:
    _member(client, agent_id, f"{role}@example.com", role)
    sign_in_directly(client, email=f"{role}@example.com")
    assert client.get(_path(agent_id), headers=HTML).status_code == 403
    csrf = csrf_from(client.get("/account/security", headers=HTML).text)
    refused = client.post(_path(agent_id), data={"csrf_token": csrf, "message": QUESTION}, headers=HTML)
    assert refused.status_code == 403


def test_another_workspaces_agent_is_not_found(client: TestClient, agent_id: uuid.UUID) -> None:
    with unit_of_work(app_sessions(client)) as session:
        other = do_create_workspace(session, name="Other", region=Region.EU)
    foreign = _agent(client, other.id)
    assert client.get(_path(foreign), headers=HTML).status_code == 404
    csrf = csrf_from(client.get(_path(agent_id), headers=HTML).text)
    refused = client.post(_path(foreign), data={"csrf_token": csrf, "message": QUESTION}, headers=HTML)
    assert refused.status_code == 404


def test_both_routes_declare_agent_write(client: TestClient) -> None:
    declared = {}
    for route in flat_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.path == "/agents/{agent_id}/preview":
            for method in route.methods or ():
                check = declaration_of(route)
                assert isinstance(check, PermissionCheck)
                declared[method] = check.permission
    assert declared == {"GET": Permission.AGENT_WRITE, "POST": Permission.AGENT_WRITE}
