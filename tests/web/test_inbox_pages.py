"""The inbox and conversation pages, driven through the real app: a visitor's hand-off through
the widget API, people signed in with their own sessions, the live streams read as a browser
reads them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from hushdesk.audit.models import AuditEvent
from hushdesk.conversations.models import Attachment, Conversation, ConversationStatus, Message
from hushdesk.identity.sessions import do_end_all_sessions
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.privacy.pii import NameLexicon
from hushdesk.web import inbox_pages
from tests.conversations.test_inbox import (
    AUDITOR,
    MANAGER,
    OTHER_OWNER,
    OTHER_SUPPORT,
    OWNER,
    SUPPORT,
    TINY_PNG,
    Team,
    audit_actions,
    build_team,
    handed_off,
    send_png,
)
from tests.web.helpers import add_member, csrf_from, sign_in_directly
from tests.widget.conftest import WidgetWorld, build_world

pytestmark = pytest.mark.timeout(120)
HTML = {"accept": "text/html"}
JSON = {"accept": "application/json"}


@pytest.fixture
def widget(engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    yield from build_world(engine, tmp_path, names=name_lexicon)


@pytest.fixture
def team(widget: WidgetWorld) -> Team:
    return build_team(widget)


def _as(world: WidgetWorld, email: str) -> TestClient:
    sign_in_directly(world.client, email=email)
    return world.client


def _state(world: WidgetWorld) -> tuple[Any, ...]:
    """What a refused request must leave alone: the audit log, the messages, the conversations."""
    with unit_of_work(world.sessions) as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(Message)),
            tuple(
                session.execute(
                    select(Conversation.id, Conversation.status, Conversation.assigned_membership_id)
                ).all()
            ),
        )


def _post(world: WidgetWorld, path: str, page: str, **fields: str) -> Any:
    return world.client.post(
        path, data={"csrf_token": csrf_from(page), **fields}, headers=HTML, follow_redirects=False
    )


def _sse_lines(response: Any) -> Iterator[str]:
    lines: Iterator[str] = iter(response.iter_lines())
    return lines


def _until(lines: Iterator[str], wanted: str, *, limit: int = 200) -> list[str]:
    """Lines read up to and including the first that starts with ``wanted``."""
    seen = []
    for line in lines:
        seen.append(line)
        if line.startswith(wanted):
            return seen
        if len(seen) >= limit:
            break
    raise AssertionError(f"no {wanted!r} in {seen}")


# ---- who sees what ------------------------------------------------------------------------


def test_a_hand_off_shows_in_the_inbox_of_the_owner_and_the_assigned_support_person(
    widget: WidgetWorld, team: Team
) -> None:
    _visitor, conversation_id = handed_off(widget)
    for email in (OWNER, SUPPORT):
        page = _as(widget, email).get("/inbox", headers=HTML)
        assert page.status_code == 200
        assert page.text.count('class="hd-inbox-row"') == 1
        assert f'href="/conversations/{conversation_id}"' in page.text
        assert "/static/inbox.js" in page.text
        assert '<a href="/inbox">Inbox</a>' in page.text
    for email in (OTHER_SUPPORT, OTHER_OWNER):
        page = _as(widget, email).get("/inbox", headers=HTML)
        assert page.status_code == 200
        assert 'class="hd-inbox-row"' not in page.text
        assert "No conversations waiting." in page.text


def test_others_get_not_found_on_every_conversation_route_and_nothing_changes(
    widget: WidgetWorld, team: Team
) -> None:
    visitor, conversation_id = handed_off(widget)
    send_png(visitor)
    with unit_of_work(widget.sessions) as session:
        attachment_id = session.scalars(select(Attachment.id)).one()
    base = f"/conversations/{conversation_id}"
    for email in (OTHER_SUPPORT, OTHER_OWNER):
        client = _as(widget, email)
        csrf = csrf_from(client.get("/inbox", headers=HTML).text)
        before = _state(widget)
        for path in (base, f"{base}/messages", f"{base}/events", f"{base}/attachments/{attachment_id}"):
            response = client.get(path, headers=JSON)
            assert response.status_code == 404, (email, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
        for action in ("reply", "take", "resolve", "hand-back"):
            response = client.post(f"{base}/{action}", data={"csrf_token": csrf, "text": "Hi"}, headers=JSON)
            assert response.status_code == 404, (email, action, response.text)
        assert _state(widget) == before


def test_an_auditor_has_no_inbox(widget: WidgetWorld, team: Team) -> None:
    add_member(widget.client, workspace_id=widget.workspace_id, email=AUDITOR, role="auditor")
    client = _as(widget, AUDITOR)
    assert client.get("/inbox", headers=JSON).status_code == 403
    assert '<a href="/inbox">' not in client.get("/account/security", headers=HTML).text


def test_the_status_filters_list_conversations_with_the_agent_and_resolved(
    widget: WidgetWorld, team: Team
) -> None:
    handed_off(widget)
    chatting = widget.visitor().start()
    assert chatting.say("How many business days until refunds are paid back?").status_code == 202
    widget.run_replies()
    client = _as(widget, OWNER)
    assert client.get("/inbox?status=bot", headers=HTML).text.count('class="hd-inbox-row"') == 1
    assert client.get("/inbox?status=all", headers=HTML).text.count('class="hd-inbox-row"') == 2
    assert 'class="hd-inbox-row"' not in client.get("/inbox?status=resolved", headers=HTML).text
    assert client.get("/inbox?status=gone", headers=JSON).status_code == 422
    rows = client.get("/inbox/rows?status=all", headers=HTML)
    assert rows.text.strip().startswith('<tbody id="hd-inbox-rows">')
    assert rows.text.count('class="hd-inbox-row"') == 2


# ---- the conversation page ----------------------------------------------------------------


def test_the_conversation_page_shows_metadata_and_transcript_escaped(widget: WidgetWorld, team: Team) -> None:
    visitor = widget.visitor().start()
    assert visitor.say("<b>I want to talk to a person</b>").status_code == 202
    widget.run_replies()
    with unit_of_work(widget.sessions) as session:
        conversation_id = session.scalars(select(Conversation.id)).one()
    page = _as(widget, OWNER).get(f"/conversations/{conversation_id}", headers=HTML)
    assert page.status_code == 200
    assert "&lt;b&gt;I want to talk to a person&lt;/b&gt;" in page.text
    assert "<b>I want" not in page.text
    for label in ("Channel", "Agent", "Started", "Ended", "Duration", "Status", "Resolution", "Assigned to"):
        assert f"<dt>{label}</dt>" in page.text
    assert "<strong>Customer</strong>" in page.text
    assert "<strong>Assistant</strong>" in page.text
    assert 'id="hd-reply-form"' in page.text
    for button in ("Send reply", "Take", "Resolve", "Hand back to the agent"):
        assert f">{button}</button>" in page.text


def test_reading_pages_is_audited_for_the_owner_and_manager_not_the_assigned_support_person(
    widget: WidgetWorld, team: Team
) -> None:
    _visitor, conversation_id = handed_off(widget)
    client = _as(widget, SUPPORT)
    page = client.get(f"/conversations/{conversation_id}", headers=HTML)
    taken = _post(widget, f"/conversations/{conversation_id}/take", page.text)
    assert taken.status_code == 303
    assert client.get(f"/conversations/{conversation_id}", headers=HTML).status_code == 200
    assert client.get(f"/conversations/{conversation_id}/messages", headers=HTML).status_code == 200
    # One audited read: the support person's first look, before the conversation was theirs.
    assert [event.actor_id for event in audit_actions(widget, "conversation.transcript.read")] == [
        str(team.support.id)
    ]
    for email, principal in ((OWNER, team.owner), (MANAGER, team.manager)):
        viewer = _as(widget, email)
        assert viewer.get(f"/conversations/{conversation_id}", headers=HTML).status_code == 200
        fragment = viewer.get(f"/conversations/{conversation_id}/messages", headers=HTML)
        assert fragment.text.strip().startswith('<div id="hd-conversation-live"')
        reads = audit_actions(widget, "conversation.transcript.read")
        assert [event.actor_id for event in reads[-2:]] == [str(principal.id)] * 2
    # A manager reads but does not answer.
    assert 'id="hd-reply-form"' not in _as(widget, MANAGER).get(f"/conversations/{conversation_id}").text
    (taken_event,) = audit_actions(widget, "conversation.taken")
    assert taken_event.target_id == str(conversation_id)


def test_a_support_persons_reply_reaches_the_visitors_event_stream(widget: WidgetWorld, team: Team) -> None:
    visitor, conversation_id = handed_off(widget)
    client = _as(widget, SUPPORT)
    page = client.get(f"/conversations/{conversation_id}", headers=HTML)
    sent = _post(widget, f"/conversations/{conversation_id}/reply", page.text, text="Hello, Sam here.")
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/conversations/{conversation_id}"
    with unit_of_work(widget.sessions) as session:
        reply = session.scalars(select(Message).order_by(Message.seq.desc())).first()
        assert reply is not None
        assert (reply.author, reply.body) == ("person", "Hello, Sam here.")
        assert reply.author_membership_id == team.support.membership_id
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.assigned_membership_id == team.support.membership_id
    shown = client.get(f"/conversations/{conversation_id}", headers=HTML).text
    assert "<strong>Sam</strong>" in shown
    with widget.client.stream("GET", "/widget/v1/events?after=0", headers=visitor.auth) as stream:
        lines = _sse_lines(stream)
        found = None
        for _ in range(40):
            line = _until(lines, "data:")[-1]
            data = json.loads(line.removeprefix("data:").strip())
            if data.get("author") == "person":
                found = data
                break
    assert found is not None
    assert found["text"] == "Hello, Sam here."


def test_an_empty_reply_is_refused_and_changes_nothing(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    client = _as(widget, SUPPORT)
    page = client.get(f"/conversations/{conversation_id}", headers=HTML)
    before = _state(widget)
    refused = client.post(
        f"/conversations/{conversation_id}/reply",
        data={"csrf_token": csrf_from(page.text), "text": "   "},
        headers=JSON,
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "message_empty"
    assert _state(widget) == before


def test_resolving_ends_the_conversation_with_its_duration(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    client = _as(widget, SUPPORT)
    page = client.get(f"/conversations/{conversation_id}", headers=HTML)
    assert _post(widget, f"/conversations/{conversation_id}/resolve", page.text).status_code == 303
    with unit_of_work(widget.sessions) as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.status == ConversationStatus.RESOLVED.value
        assert conversation.resolution == "resolved_by_person"
        assert conversation.ended_at is not None
        expected = inbox_pages.duration_text(conversation.duration)
    shown = client.get(f"/conversations/{conversation_id}", headers=HTML).text
    assert f"<dt>Duration</dt><dd>{expected}</dd>" in shown
    assert "resolved by person" in shown
    assert 'id="hd-reply-form"' not in shown
    (event,) = audit_actions(widget, "conversation.resolved")
    assert event.actor_id == str(team.support.id)


def test_handing_back_lets_the_agent_answer_the_next_message(widget: WidgetWorld, team: Team) -> None:
    visitor, conversation_id = handed_off(widget)
    client = _as(widget, SUPPORT)
    page = client.get(f"/conversations/{conversation_id}", headers=HTML)
    assert _post(widget, f"/conversations/{conversation_id}/hand-back", page.text).status_code == 303
    with unit_of_work(widget.sessions) as session:
        assert session.get_one(Conversation, conversation_id).status == ConversationStatus.BOT.value
    assert visitor.say("How many business days until refunds are paid back?").status_code == 202
    widget.run_replies()
    with unit_of_work(widget.sessions) as session:
        last = session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.seq.desc())
        ).first()
        assert last is not None
        assert last.author == "assistant"
        assert "5 business days" in last.body
    assert len(audit_actions(widget, "conversation.handed_back")) == 1


def test_an_attachment_downloads_decrypted_and_audited(widget: WidgetWorld, team: Team) -> None:
    visitor, conversation_id = handed_off(widget)
    send_png(visitor, name="receipt scan.png")
    client = _as(widget, OWNER)
    page = client.get(f"/conversations/{conversation_id}", headers=HTML).text
    with unit_of_work(widget.sessions) as session:
        attachment_id = session.scalars(select(Attachment.id)).one()
    link = f"/conversations/{conversation_id}/attachments/{attachment_id}"
    assert f'href="{link}"' in page
    download = client.get(link)
    assert download.status_code == 200
    assert download.content == TINY_PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''receipt%20scan.png" in disposition
    (event,) = audit_actions(widget, "conversation.attachment.read")
    assert event.actor_id == str(team.owner.id)
    assert event.data["attachment_id"] == str(attachment_id)
    missing = client.get(f"/conversations/{conversation_id}/attachments/{uuid.uuid4()}", headers=JSON)
    assert missing.status_code == 404


# ---- live updates -------------------------------------------------------------------------


def test_the_inbox_stream_tells_an_assigned_person_of_a_hand_off(
    widget: WidgetWorld, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_pages, "KEEP_ALIVE_SECONDS", 0.5)
    client = _as(widget, SUPPORT)
    with client.stream("GET", "/inbox/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = _sse_lines(stream)
        assert _until(lines, ": subscribed")
        _visitor, conversation_id = handed_off(widget)
        seen = _until(lines, "event: conversation")
        data = json.loads(next(lines).removeprefix("data:").strip())
    assert data == {"conversation_id": str(conversation_id), "status": "handed_off"}
    assert not any("agent_id" in line for line in seen)


def test_the_inbox_stream_says_nothing_to_a_person_not_assigned_the_agent(
    widget: WidgetWorld, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_pages, "KEEP_ALIVE_SECONDS", 0.3)
    client = _as(widget, OTHER_SUPPORT)
    with client.stream("GET", "/inbox/events") as stream:
        lines = _sse_lines(stream)
        _until(lines, ": subscribed")
        handed_off(widget)
        # The first keep-alive may have been waiting to be read before the hand-off; the
        # second comes after the stream has dealt with the event.
        seen = _until(lines, ": keep-alive") + _until(lines, ": keep-alive")
    assert not any(line.startswith("event:") for line in seen)


def test_the_conversation_stream_tells_of_a_new_message(
    widget: WidgetWorld, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_pages, "KEEP_ALIVE_SECONDS", 0.5)
    visitor, conversation_id = handed_off(widget)
    client = _as(widget, SUPPORT)
    with client.stream("GET", f"/conversations/{conversation_id}/events") as stream:
        lines = _sse_lines(stream)
        _until(lines, ": subscribed")
        assert visitor.say("Are you there?").status_code == 202
        _until(lines, "event: message")
        data = json.loads(next(lines).removeprefix("data:").strip())
    assert data == {"conversation_id": str(conversation_id), "seq": 3}


def test_a_stream_ends_when_the_session_ends(
    widget: WidgetWorld, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_pages, "KEEP_ALIVE_SECONDS", 0.2)
    client = _as(widget, SUPPORT)
    with client.stream("GET", "/inbox/events") as stream:
        lines = _sse_lines(stream)
        _until(lines, ": keep-alive")
        with unit_of_work(widget.sessions) as session:
            do_end_all_sessions(session, user_id=team.support.id)
        rest = list(lines)  # ends: the stream closes at the next check
    assert len(rest) <= 4
    assert client.get("/inbox/events", headers=JSON).status_code == 401


def test_pages_load_the_live_script_and_no_inline_script(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    client = _as(widget, OWNER)
    for path in ("/inbox", f"/conversations/{conversation_id}"):
        page = client.get(path, headers=HTML).text
        assert "/static/inbox.js" in page
        assert "<script>" not in page
        assert "data-hd-live" in page
    script = client.get("/static/inbox.js")
    assert script.status_code == 200
    assert 'credentials: "same-origin"' in script.text
