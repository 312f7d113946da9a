"""Consent before anything the customer types is kept: the record proves which words were
accepted (or shown), and a notice that changed under the visitor must be read again."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from sqlalchemy import select, update

from hushdesk.agents.config import do_update_settings, settings_of
from hushdesk.conversations.consent import DEFAULT_CONSENT_NOTICE
from hushdesk.conversations.models import (
    ConsentRecord,
    Contact,
    Conversation,
    Message,
    WidgetSession,
)
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.workspaces.models import Workspace
from tests.widget.conftest import OPERATOR, Visitor, WidgetWorld, count_rows

CUSTOM_NOTICE = "Acme keeps this chat for 30 days and may hand it to a colleague."


def _records(world: WidgetWorld) -> list[ConsentRecord]:
    with unit_of_work(world.sessions) as session:
        rows = list(session.scalars(select(ConsentRecord)))
        session.expunge_all()
        return rows


def _accept(visitor: Visitor) -> Any:
    """The frame's POST /consent for the notice version it was given."""
    return visitor.post("/widget/v1/consent", json={"version": visitor.state["consent"]["version"]})


def _change_notice(world: WidgetWorld, text: str) -> int:
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session)
        do_update_settings(
            session, agent, dataclasses.replace(settings_of(agent), consent_notice=text), actor=OPERATOR
        )
        version: int = agent.config_version
    return version


def test_message_before_consent_is_refused_and_nothing_is_stored(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start(consent=False)
    assert visitor.state["consent"]["required"] is True
    response = visitor.say("My card number is 4111 1111 1111 1111")
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "consent_required"
    for model in (Message, Contact, Conversation, ConsentRecord):
        assert count_rows(widget, model) == 0, model.__name__
    assert widget.pending_work() == []


def test_consent_record_names_the_notice_accepted(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start(consent=False)
    with unit_of_work(widget.sessions) as session:
        version = widget.agent(session).config_version
    assert visitor.state["consent"] == {"required": True, "mode": "accept", "version": version}
    accepted = visitor.post("/widget/v1/consent", json={"version": version})
    assert accepted.status_code == 204, accepted.text
    [record] = _records(widget)
    assert record.kind == "accepted"
    assert record.channel == "widget"
    assert record.notice_version == version
    assert record.notice_digest == hashlib.sha256(DEFAULT_CONSENT_NOTICE.encode()).hexdigest()
    assert record.agent_id == widget.agent_id
    assert record.workspace_id == widget.workspace_id
    with unit_of_work(widget.sessions) as session:
        row = session.scalars(select(WidgetSession)).one()
        assert record.widget_session_id == row.id
        assert record.contact_id == row.contact_id
    assert visitor.refresh().json()["consent"]["required"] is False


def test_consent_twice_keeps_one_record(shared_widget: WidgetWorld) -> None:
    before = len(_records(shared_widget))
    visitor = shared_widget.visitor().start()
    again = _accept(visitor)
    assert again.status_code == 204
    assert len(_records(shared_widget)) == before + 1


def test_consent_to_a_stale_notice_is_refused(sqlite_widget: WidgetWorld) -> None:
    visitor = sqlite_widget.visitor().start(consent=False)
    seen = visitor.state["consent"]["version"]
    current = _change_notice(sqlite_widget, CUSTOM_NOTICE)
    assert current > seen
    stale = visitor.post("/widget/v1/consent", json={"version": seen})
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "consent_stale"
    assert _records(sqlite_widget) == []
    assert count_rows(sqlite_widget, Contact) == 0
    # Reloaded, the frame shows the new notice and its version; accepting that one works.
    assert visitor.refresh().json()["consent"]["version"] == current
    assert visitor.post("/widget/v1/consent", json={"version": current}).status_code == 204
    [record] = _records(sqlite_widget)
    assert record.notice_version == current
    assert record.notice_digest == hashlib.sha256(CUSTOM_NOTICE.encode()).hexdigest()


def test_consent_to_a_future_version_is_refused(shared_widget: WidgetWorld) -> None:
    before = len(_records(shared_widget))
    visitor = shared_widget.visitor().start(consent=False)
    future = visitor.post("/widget/v1/consent", json={"version": visitor.state["consent"]["version"] + 1})
    assert future.status_code == 409
    assert future.json()["error"]["code"] == "consent_stale"
    assert len(_records(shared_widget)) == before


def test_shown_mode_records_that_the_notice_was_shown(sqlite_widget: WidgetWorld) -> None:
    with unit_of_work(sqlite_widget.sessions) as session:
        session.execute(
            update(Workspace).where(Workspace.id == sqlite_widget.workspace_id).values(consent_mode="shown")
        )
    visitor = sqlite_widget.visitor().start(consent=False)
    assert visitor.state["consent"]["mode"] == "shown"
    assert _accept(visitor).status_code == 204
    [record] = _records(sqlite_widget)
    assert record.kind == "shown"


def test_only_what_was_typed_after_consent_is_kept(sqlite_widget: WidgetWorld) -> None:
    visitor = sqlite_widget.visitor().start(consent=False)
    assert visitor.say("BEFORE-CONSENT-e41c").status_code == 409
    assert _accept(visitor).status_code == 204
    assert visitor.say("after consent").status_code == 202
    with unit_of_work(sqlite_widget.sessions) as session:
        assert [m.body for m in session.scalars(select(Message))] == ["after consent"]
