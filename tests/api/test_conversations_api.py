"""The conversation routes of REST API v1: metadata lists, and transcripts that are always
audited (a key is never the person answering a conversation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hushdesk.audit.models import AuditEvent
from hushdesk.conversations.inbox import access_conversation_by_id, do_reply
from hushdesk.conversations.models import Attachment, Conversation, Message
from hushdesk.identity.permissions import Permission
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.privacy.pii import NameLexicon
from tests.api import MadeKey, bearer, make_key
from tests.conversations.test_inbox import (
    ASK_FOR_A_PERSON,
    TINY_PNG,
    Team,
    audit_actions,
    build_team,
    handed_off,
    send_png,
)
from tests.widget.conftest import WidgetWorld, build_world


@pytest.fixture
def widget(engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    yield from build_world(engine, tmp_path, names=name_lexicon)


@pytest.fixture
def team(widget: WidgetWorld) -> Team:
    return build_team(widget)


def _reader(widget: WidgetWorld, team: Team) -> MadeKey:
    return make_key(widget.client, team.owner, [Permission.CONVERSATION_READ], name="reporting")


def test_the_list_holds_metadata_only_and_is_not_an_audited_read(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    key = _reader(widget, team)
    listed = widget.client.get("/api/v1/conversations", headers=bearer(key.token))
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["conversations"]
    assert item["id"] == str(conversation_id)
    assert item["agent_id"] == str(widget.agent_id)
    assert item["status"] == "handed_off"
    assert item["message_count"] == 2
    assert ASK_FOR_A_PERSON not in listed.text
    assert audit_actions(widget, "conversation.transcript.read") == []
    everything = widget.client.get("/api/v1/conversations?status=all&limit=5", headers=bearer(key.token))
    assert len(everything.json()["conversations"]) == 1
    assert widget.client.get("/api/v1/conversations?status=bot", headers=bearer(key.token)).json() == {
        "conversations": []
    }
    refused = widget.client.get("/api/v1/conversations?status=deleted", headers=bearer(key.token))
    assert refused.status_code == 422


def test_a_transcript_read_by_a_key_is_audited(widget: WidgetWorld, team: Team) -> None:
    visitor, conversation_id = handed_off(widget)
    send_png(visitor)
    key = _reader(widget, team)
    response = widget.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(key.token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(conversation_id)
    assert body["status"] == "handed_off"
    assert body["ended_at"] is None
    assert [message["author"] for message in body["messages"]] == ["customer", "assistant", "customer"]
    assert body["messages"][0]["text"] == ASK_FOR_A_PERSON
    attachment = body["messages"][2]["attachment"]
    assert attachment["name"] == "receipt.png"
    assert attachment["media_type"] == "image/png"
    assert attachment["size"] == len(TINY_PNG)
    (event,) = audit_actions(widget, "conversation.transcript.read")
    assert (event.actor_kind, event.actor_id) == ("api_key", str(key.id))
    assert event.target_id == str(conversation_id)
    assert event.data == {"agent_id": str(widget.agent_id)}


def test_another_workspaces_conversation_is_not_found_and_nothing_is_recorded(
    widget: WidgetWorld, team: Team
) -> None:
    _visitor, conversation_id = handed_off(widget)
    theirs = make_key(widget.client, team.other_owner, [Permission.CONVERSATION_READ], name="theirs")
    before = _events(widget)
    for wanted in (conversation_id, uuid.uuid4()):
        response = widget.client.get(f"/api/v1/conversations/{wanted}", headers=bearer(theirs.token))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert widget.client.get("/api/v1/conversations?status=all", headers=bearer(theirs.token)).json() == {
        "conversations": []
    }
    assert _events(widget) == before


def test_a_key_without_the_scope_is_refused(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    key = make_key(widget.client, team.owner, [Permission.AGENT_READ], name="agents only")
    for path in ("/api/v1/conversations", f"/api/v1/conversations/{conversation_id}"):
        assert widget.client.get(path, headers=bearer(key.token)).status_code == 403
    assert audit_actions(widget, "conversation.transcript.read") == []
    assert len(audit_actions(widget, "api_key.denied")) == 2


def test_a_person_reply_carries_its_authors_name(widget: WidgetWorld, team: Team) -> None:
    _visitor, conversation_id = handed_off(widget)
    with unit_of_work(widget.sessions) as session:
        conversation = access_conversation_by_id(session, team.support, conversation_id, for_update=True)
        do_reply(
            session,
            bus=widget.app.state.events,
            principal=team.support,
            conversation=conversation,
            text="Sam here.",
        )
    key = _reader(widget, team)
    body = widget.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(key.token)).json()
    assert body["assigned_to"] == "Sam"
    assert body["messages"][-1] == {
        **body["messages"][-1],
        "author": "person",
        "author_name": "Sam",
        "text": "Sam here.",
    }
    with unit_of_work(widget.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 3
        assert session.scalar(select(func.count()).select_from(Attachment)) == 0
        assert (
            session.get_one(Conversation, conversation_id).assigned_membership_id
            == team.support.membership_id
        )


def _events(widget: WidgetWorld) -> int:
    with unit_of_work(widget.sessions) as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0
