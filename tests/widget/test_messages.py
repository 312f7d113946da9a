"""A visitor's messages: stored once per client id, checked before anything is kept, answered
once by the reply job however often it runs, and left to the team after a hand-off."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from hushdesk.conversations.models import Conversation, Message
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.models import WorkItem, WorkState
from tests.widget.conftest import WidgetWorld, count_rows

QUESTION = "How many business days until refunds are paid back?"


def _messages(world: WidgetWorld) -> list[tuple[str, str, str | None]]:
    with unit_of_work(world.sessions) as session:
        return [
            (m.author, m.body, m.reply_state) for m in session.scalars(select(Message).order_by(Message.seq))
        ]


def _error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_resend_with_the_same_client_id_is_the_same_message(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    client_id = uuid.uuid4()
    first = visitor.say(QUESTION, client_id=client_id)
    assert first.status_code == 202, first.text
    again = visitor.say(QUESTION, client_id=client_id)
    assert again.status_code == 200, again.text
    assert again.json()["message"] == first.json()["message"]
    assert count_rows(widget, Message) == 1
    assert len(widget.pending_work()) == 1


def test_message_json_has_the_documented_shape(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    message = visitor.say("  Hello there \r\nsecond line\t ").json()["message"]
    assert set(message) == {"id", "seq", "author", "text", "created_at", "citations", "attachment"}
    assert message["author"] == "customer"
    assert message["text"] == "Hello there \nsecond line"
    assert message["seq"] == 1
    assert message["citations"] == []
    assert message["attachment"] is None
    uuid.UUID(message["id"])


@pytest.mark.parametrize("text", ["", "   ", "\n\t \r\n"])
def test_empty_message_is_refused(shared_widget: WidgetWorld, text: str) -> None:
    visitor = shared_widget.visitor().start()
    before = count_rows(shared_widget, Message)
    response = visitor.say(text)
    assert response.status_code == 422, response.text
    assert _error_code(response) == "message_empty"
    assert count_rows(shared_widget, Message) == before


def test_message_over_2000_characters_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    before = count_rows(shared_widget, Message)
    response = visitor.say("a" * 2001)
    assert response.status_code == 422, response.text
    assert _error_code(response) == "message_too_long"
    assert count_rows(shared_widget, Message) == before
    assert visitor.say("a" * 2000).status_code == 202


def test_message_far_over_the_limit_is_still_a_422(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    response = visitor.say("a" * 20_000)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("text", ["null \x00 byte", "escape \x1b[31mred", "bell \x07", "lone \r return"])
def test_message_with_control_characters_is_refused(shared_widget: WidgetWorld, text: str) -> None:
    visitor = shared_widget.visitor().start()
    before = count_rows(shared_widget, Message)
    response = visitor.say(text)
    assert response.status_code == 422, response.text
    assert count_rows(shared_widget, Message) == before


def test_message_with_a_malformed_client_id_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    before = count_rows(shared_widget, Message)
    response = visitor.post("/widget/v1/messages", json={"client_id": "not-a-uuid", "text": "hi"})
    assert response.status_code == 422, response.text
    assert count_rows(shared_widget, Message) == before


def test_reply_job_stores_one_answer_however_often_it_runs(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    assert visitor.say(QUESTION).status_code == 202
    [item_id] = widget.pending_work()
    assert [result.outcome.value for result in widget.run_replies()] == ["done"]
    answered = _messages(widget)
    assert [(author, state) for author, _, state in answered] == [
        ("customer", "answered"),
        ("assistant", None),
    ]
    assert "5 business days" in answered[1][1]
    # Done work is not claimed again...
    assert widget.jobs.run_work_item(item_id).outcome.value == "not_claimable"
    # ...and a redelivered job (put back to pending, as after a lost completion) writes nothing.
    with unit_of_work(widget.sessions) as session:
        session.execute(
            update(WorkItem)
            .where(WorkItem.id == item_id)
            .values(state=WorkState.PENDING.value, completed_at=None)
        )
    assert widget.jobs.run_work_item(item_id).outcome.value == "done"
    assert _messages(widget) == answered
    with unit_of_work(widget.sessions) as session:
        assert session.scalars(select(Conversation.last_seq)).one() == 2


def test_asking_for_a_person_hands_off_and_later_messages_wait_for_the_team(
    sqlite_widget: WidgetWorld,
) -> None:
    visitor = sqlite_widget.visitor().start()
    assert visitor.say("I want to talk to a person").status_code == 202
    assert [result.outcome.value for result in sqlite_widget.run_replies()] == ["done"]
    with unit_of_work(sqlite_widget.sessions) as session:
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.status == "handed_off"
        assert conversation.handed_off_at is not None
    later = visitor.say("Are you there?")
    assert later.status_code == 202, later.text
    assert _messages(sqlite_widget)[-1] == ("customer", "Are you there?", "skipped")
    assert sqlite_widget.pending_work() == []
    state = visitor.refresh().json()
    assert state["conversation"]["status"] == "handed_off"
