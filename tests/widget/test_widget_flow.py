"""A visitor on an allowed page: session, consent, a question, the stored answer."""

from __future__ import annotations

from sqlalchemy import select

from hushdesk.conversations.models import ConsentRecord, Conversation, Message, WidgetRefusal
from tests.widget.conftest import WidgetWorld


def test_visitor_gets_an_answer_from_the_knowledge_base(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    sent = visitor.say("How many business days until refunds are paid back?")
    assert sent.status_code == 202, sent.text
    assert sent.json()["message"]["author"] == "customer"
    results = widget.run_replies()
    assert [result.outcome.value for result in results] == ["done"]
    with widget.sessions() as session:
        messages = session.scalars(select(Message).order_by(Message.seq)).all()
        assert [m.author for m in messages] == ["customer", "assistant"]
        assert "5 business days" in messages[1].body
        assert messages[1].citations
        assert messages[1].citations[0]["source"] == "help.md"
        assert session.scalar(select(ConsentRecord.kind)) == "accepted"
        conversation = session.scalars(select(Conversation)).one()
        assert conversation.last_seq == 2


def test_disallowed_origin_is_refused_without_cors(widget: WidgetWorld) -> None:
    response = widget.visitor(origin="https://evil.example.net").open()
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers


def test_what_the_customer_writes_is_stored_under_the_redaction_policy(widget: WidgetWorld) -> None:
    visitor = widget.visitor().start()
    sent = visitor.say("Please write to ada.lovelace@example.com or call +44 20 7946 0958 about my refund")
    assert sent.status_code == 202, sent.text
    stored = sent.json()["message"]["text"]
    assert "ada.lovelace@example.com" not in stored
    assert "7946" not in stored
    assert "[EMAIL]" in stored
    with widget.sessions() as session:
        body = session.scalars(select(Message)).one().body
    assert body == stored


def test_the_preflight_names_the_agent_and_a_refused_one_is_counted(widget: WidgetWorld) -> None:
    allowed = widget.client.options(
        f"/widget/v1/sessions?agent={widget.widget_key}",
        headers={"origin": "https://shop.example.com", "access-control-request-method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
    refused = widget.client.options(
        f"/widget/v1/sessions?agent={widget.widget_key}",
        headers={"origin": "https://evil.example.net", "access-control-request-method": "POST"},
    )
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    with widget.sessions() as session:
        row = session.scalars(select(WidgetRefusal)).one()
        assert (row.count, row.last_origin) == (1, "https://evil.example.net")
