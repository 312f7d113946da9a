"""The website widget's card on the agent's page: the snippet, the allowed domains and their
warning, the refused requests, and the identity secret (made with a fresh second factor,
shown once, sealed, audited; the old one stops working; removed on request)."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select, text, update

from hushdesk.agents.models import Agent, AgentAssignment
from hushdesk.audit.models import AuditEvent
from hushdesk.channels.widget.identity import sign_identity_token
from hushdesk.channels.widget.snippet import embed_snippet
from hushdesk.identity.models import Membership, WebSession
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.settings import Settings
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
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
SHOP = "https://shop.example.com"
SECRET = re.compile(r"hd_is_[A-Za-z0-9_-]{43}")
WARNING = "The widget will not load on any site until you add a domain."


def _get(client: TestClient, path: str) -> Response:
    response: Response = client.get(path, headers=HTML, follow_redirects=False)
    return response


def _post(
    client: TestClient, path: str, data: dict[str, str], headers: dict[str, str] | None = None
) -> Response:
    response: Response = client.post(path, data=data, headers=headers or HTML, follow_redirects=False)
    return response


def _agent(client: TestClient, name: str = "Quill", domains: tuple[str, ...] = ()) -> uuid.UUID:
    created = _post(client, "/agents", {"name": name, "csrf_token": csrf_from(_get(client, "/agents").text)})
    assert created.status_code == 303
    agent_id = uuid.UUID(created.headers["location"].rsplit("/", 1)[1])
    if domains:
        with unit_of_work(app_sessions(client)) as session:
            session.get_one(Agent, agent_id).allowed_domains = list(domains)
    return agent_id


def _widget_key(client: TestClient, agent_id: uuid.UUID) -> str:
    with unit_of_work(app_sessions(client)) as session:
        return session.get_one(Agent, agent_id).widget_key


def _stored_secret(client: TestClient, agent_id: uuid.UUID) -> str | None:
    with unit_of_work(app_sessions(client)) as session:
        return session.get_one(Agent, agent_id).identity_secret


def _events(client: TestClient, action: str) -> list[AuditEvent]:
    with unit_of_work(app_sessions(client)) as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _open_session(
    client: TestClient, agent_id: uuid.UUID, *, origin: str = SHOP, user: str | None = None
) -> Any:
    body: dict[str, Any] = {"agent": _widget_key(client, agent_id)}
    if user is not None:
        body["user"] = user
    return client.post("/widget/v1/sessions", json=body, headers={"origin": origin})


def _rotate(client: TestClient, agent_id: uuid.UUID) -> Response:
    page = _get(client, f"/agents/{agent_id}")
    return _post(client, f"/agents/{agent_id}/identity-secret", {"csrf_token": csrf_from(page.text)})


def _user_token(secret: str) -> str:
    return sign_identity_token(secret=secret, user_id="customer-7", now=dt.datetime.now(dt.UTC))


def test_the_page_shows_the_snippet_and_warns_while_no_domain_is_allowed(
    client: TestClient, sqlite_engine: Engine, settings: Settings
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    page = _get(client, f"/agents/{agent_id}")
    assert page.status_code == 200
    snippet = embed_snippet(base_url=settings.base_url, widget_key=_widget_key(client, agent_id))
    shown = re.search(r'<pre><code id="embed-snippet">(.*?)</code></pre>', page.text, re.DOTALL)
    assert shown is not None
    assert html.unescape(shown.group(1)) == snippet
    assert "Ctrl+C" in page.text
    assert WARNING in page.text


def test_the_allowed_domains_are_listed_and_the_warning_goes(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client, domains=("shop.example.com", "*.acme.example"))
    page = _get(client, f"/agents/{agent_id}")
    assert "<li><code>shop.example.com</code></li>" in page.text
    assert "<li><code>*.acme.example</code></li>" in page.text
    assert WARNING not in page.text
    assert "No request was refused in the last 30 days." in page.text


def test_refused_widget_requests_are_counted_on_the_agents_page(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client, domains=("shop.example.com",))
    other_id = _agent(client, "Other", domains=("shop.example.com",))
    assert _open_session(client, agent_id).status_code == 200
    assert _open_session(client, agent_id, origin="https://evil.example.net").status_code == 403
    assert _open_session(client, other_id, origin="https://elsewhere.example.org").status_code == 403
    # An origin is whatever the caller sends: the page shows it as text, never as markup.
    refused = _open_session(client, agent_id, origin="https://<b>bold</b>.example")
    assert refused.status_code == 403
    page = _get(client, f"/agents/{agent_id}")
    refusals = re.search(r'<p id="widget-refusals">(.*?)</p>', page.text, re.DOTALL)
    assert refusals is not None
    assert refusals.group(1).startswith("2 requests from sites not on the list in the last 30 days.")
    assert "<code>https://&lt;b&gt;bold&lt;/b&gt;.example</code>" in refusals.group(1)
    assert "<b>bold</b>" not in page.text
    assert utcnow().strftime("%Y-%m-%d") in refusals.group(1)
    other = _get(client, f"/agents/{other_id}")
    assert "1 request from sites not on the list" in other.text
    assert "elsewhere.example.org" in other.text
    assert "evil.example.net" not in other.text


def test_a_new_identity_secret_is_shown_once_with_how_to_sign(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    created = _rotate(client, agent_id)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    secret = SECRET.search(created.text)
    assert secret is not None
    assert _stored_secret(client, agent_id) == secret.group(0)
    assert "hushdesk_user_token" in created.text
    assert "&#34;sub&#34;" in created.text or "&quot;sub&quot;" in created.text
    assert "data-hushdesk-user=" in created.text
    page = _get(client, f"/agents/{agent_id}")
    assert "hd_is_" not in page.text
    assert "Create a new identity secret" in page.text
    assert "Remove the identity secret" in page.text


def test_the_secret_is_stored_sealed(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    secret = SECRET.search(_rotate(client, agent_id).text)
    assert secret is not None
    with sqlite_engine.connect() as connection:
        rows = connection.execute(text("SELECT identity_secret FROM agent")).all()
    (stored,) = [bytes(row[0]) for row in rows if row[0] is not None]
    assert secret.group(0).encode() not in stored
    assert secret.group(0).removeprefix("hd_is_").encode() not in stored


def test_a_new_secret_replaces_the_old_one_for_the_widget(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client, domains=("shop.example.com",))
    first = SECRET.search(_rotate(client, agent_id).text)
    assert first is not None
    old_token = _user_token(first.group(0))
    assert _open_session(client, agent_id, user=old_token).status_code == 200
    second = SECRET.search(_rotate(client, agent_id).text)
    assert second is not None
    assert second.group(0) != first.group(0)
    assert _open_session(client, agent_id, user=old_token).status_code == 401
    assert _open_session(client, agent_id, user=_user_token(second.group(0))).status_code == 200
    events = _events(client, "agent.identity_secret.rotated")
    assert [event.data for event in events] == [{"replaced": False}, {"replaced": True}]
    assert all(event.target_id == str(agent_id) and event.actor_kind == "user" for event in events)
    for event in events:
        assert "hd_is_" not in repr(event.data)


def test_making_a_secret_needs_a_fresh_second_factor(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client)
    page = _get(client, f"/agents/{agent_id}")
    with unit_of_work(app_sessions(client)) as session:
        session.execute(update(WebSession).values(second_factor_at=utcnow() - dt.timedelta(minutes=6)))
    form = {"csrf_token": csrf_from(page.text)}
    asked = _post(
        client,
        f"/agents/{agent_id}/identity-secret",
        form,
        headers={**HTML, "referer": f"http://testserver/agents/{agent_id}"},
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/account/step-up?next=/agents/{agent_id}"
    refused = _post(client, f"/agents/{agent_id}/identity-secret", form, headers=JSON)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    removal = _post(client, f"/agents/{agent_id}/identity-secret/delete", form, headers=JSON)
    assert removal.json()["error"]["code"] == "step_up_required"
    assert _stored_secret(client, agent_id) is None
    assert _events(client, "agent.identity_secret.rotated") == []


def test_removing_the_secret_turns_identity_verification_off(
    client: TestClient, sqlite_engine: Engine
) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client, domains=("shop.example.com",))
    secret = SECRET.search(_rotate(client, agent_id).text)
    assert secret is not None
    page = _get(client, f"/agents/{agent_id}")
    removed = _post(
        client, f"/agents/{agent_id}/identity-secret/delete", {"csrf_token": csrf_from(page.text)}
    )
    assert removed.status_code == 303
    assert _stored_secret(client, agent_id) is None
    after = _get(client, removed.headers["location"])
    assert "The identity secret was removed." in after.text
    assert "Remove the identity secret" not in after.text
    assert _open_session(client, agent_id, user=_user_token(secret.group(0))).status_code == 422
    assert [event.data for event in _events(client, "agent.identity_secret.removed")] == [{}]


def test_support_sees_the_card_but_cannot_make_a_secret(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    agent_id = _agent(client, domains=("shop.example.com",))
    workspace_id = workspace_id_of(client, email=OWNER_EMAIL)
    user_id = add_member(client, workspace_id=workspace_id, email="sam@example.com", role="support")
    with unit_of_work(app_sessions(client)) as session:
        membership_id = session.scalars(select(Membership.id).where(Membership.user_id == user_id)).one()
        session.add(
            AgentAssignment(workspace_id=workspace_id, agent_id=agent_id, membership_id=membership_id)
        )
    sign_in_directly(client, email="sam@example.com")
    page = _get(client, f"/agents/{agent_id}")
    assert page.status_code == 200
    assert 'id="embed-snippet"' in page.text
    assert "<li><code>shop.example.com</code></li>" in page.text
    assert "Create a new identity secret" not in page.text
    refused = _post(client, f"/agents/{agent_id}/identity-secret", {"csrf_token": csrf_from(page.text)}, JSON)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert _stored_secret(client, agent_id) is None


def test_another_workspaces_agent_is_not_found(client: TestClient, sqlite_engine: Engine) -> None:
    signed_in_owner(client, sqlite_engine)
    with unit_of_work(app_sessions(client)) as session:
        other = do_create_workspace(session, name="Elsewhere", region=Region.EU)
        theirs = Agent(workspace_id=other.id, name="Theirs", slug="theirs")
        session.add(theirs)
        session.flush()
        their_id = theirs.id
    csrf = {"csrf_token": csrf_from(_get(client, "/agents").text)}
    for agent_id in (their_id, uuid.uuid4()):
        assert _get(client, f"/agents/{agent_id}").status_code == 404
        for path in (f"/agents/{agent_id}/identity-secret", f"/agents/{agent_id}/identity-secret/delete"):
            assert _post(client, path, csrf, JSON).status_code == 404
    assert _stored_secret(client, their_id) is None
