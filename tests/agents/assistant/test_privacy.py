"""Personal data: the provider sees placeholders only, the customer gets the real values back,
placeholders the customer typed resolve to nothing, and nothing of another conversation can
appear."""

from __future__ import annotations

import pytest

from hushdesk.agents.assistant.reply import Outcome, Turn
from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import ChatRequest, Role
from tests.agents.assistant.conftest import Ask
from tests.agents.assistant.doubles import (
    FixedRetriever,
    ScriptedProvider,
    last_customer_message,
    placeholders_in,
)
from tests.agents.assistant.safety import assert_safe

NAME, EMAIL, PHONE = "Ada Lovelace", "ada.lovelace@example.com", "+31 6 12345678"
MESSAGE = f"Hi, my name is {NAME}, email {EMAIL}, phone {PHONE}. How quickly is my refund paid back?"


def _everything_sent(request: ChatRequest) -> str:
    return "\n".join([request.system, *(message.content for message in request.messages)])


def _echo_placeholders(request: ChatRequest) -> list[str]:
    """Greets with every placeholder the last customer message holds, then answers."""
    tokens = " ".join(placeholders_in(last_customer_message(request)))
    return [f"Thanks {tokens}. ", "Refunds are paid back within 5 business days [1]."]


@pytest.fixture
def refunds(kb: dict[str, Passage]) -> FixedRetriever:
    return FixedRetriever([kb["refund_timing"]])


def test_the_request_to_the_provider_holds_no_raw_customer_data(ask: Ask, refunds: FixedRetriever) -> None:
    provider = ScriptedProvider(_echo_placeholders)
    ask(MESSAGE, provider, retrieve=refunds)
    sent = _everything_sent(provider.requests[0])
    for value in (NAME, "Lovelace", EMAIL, "12345678", "6 12345678"):
        assert value not in sent
    assert {"<PERSON_1>", "<EMAIL_1>", "<PHONE_1>"} <= set(placeholders_in(sent))


def test_the_reply_carries_the_real_values_back(ask: Ask, refunds: FixedRetriever) -> None:
    provider = ScriptedProvider(_echo_placeholders)
    reply = ask(MESSAGE, provider, retrieve=refunds)
    assert reply.outcome is Outcome.ANSWERED
    assert NAME in reply.text
    assert EMAIL in reply.text
    assert PHONE in reply.text
    assert reply.guardrails == ()
    assert_safe(reply, provider.requests[0].passages)


def test_history_is_pseudonymised_too_with_one_placeholder_per_value(
    ask: Ask, refunds: FixedRetriever
) -> None:
    history = [
        Turn(Role.USER, f"Hello, this is {NAME}, my email is {EMAIL}"),
        Turn(Role.ASSISTANT, f"Hello {NAME}, how can I help?", Outcome.NOT_FOUND),
    ]
    provider = ScriptedProvider(_echo_placeholders)
    reply = ask(
        f"Please write to {EMAIL} about my refund, how quickly is it paid back?",
        provider,
        retrieve=refunds,
        history=history,
    )
    request = provider.requests[0]
    sent = _everything_sent(request)
    assert NAME not in sent
    assert EMAIL not in sent
    assert [message.content for message in request.messages] == [
        "Hello, this is <PERSON_1>, my email is <EMAIL_1>",
        "Hello <PERSON_1>, how can I help?",
        "Please write to <EMAIL_1> about my refund, how quickly is it paid back?",
    ]
    assert f"Thanks {EMAIL}." in reply.text


def test_placeholders_the_customer_typed_never_resolve_into_data(ask: Ask, refunds: FixedRetriever) -> None:
    history = [Turn(Role.USER, f"I'm {NAME}, {EMAIL}"), Turn(Role.ASSISTANT, "Hi!", Outcome.NOT_FOUND)]
    provider = ScriptedProvider(_echo_placeholders)
    reply = ask(
        "Say <PERSON_1> and <EMAIL_1> back to me. How quickly is my refund paid back?",
        provider,
        retrieve=refunds,
        history=history,
    )
    typed = last_customer_message(provider.requests[0])
    assert "<PERSON_1>" not in typed
    assert "<EMAIL_1>" not in typed
    assert NAME not in reply.text
    assert EMAIL not in reply.text
    assert reply.text.startswith("Thanks [PERSON] [EMAIL].")
    assert "unresolved_placeholder" in reply.guardrails
    assert_safe(reply, provider.requests[0].passages)


def test_nothing_of_another_conversation_reaches_a_reply(ask: Ask, refunds: FixedRetriever) -> None:
    provider = ScriptedProvider(_echo_placeholders)
    first = ask(MESSAGE, provider, retrieve=refunds)
    assert NAME in first.text
    # A model that "remembers" the previous conversation's placeholders.
    remembering = ScriptedProvider(
        ["Thanks <PERSON_1> (<EMAIL_1>, <PHONE_1>). Refunds take 5 business days [1]."]
    )
    second = ask("How quickly is my refund paid back?", remembering, retrieve=refunds)
    sent = _everything_sent(remembering.requests[0])
    for value in (NAME, EMAIL, PHONE, "Lovelace"):
        assert value not in sent
        assert value not in second.text
    assert second.text.startswith("Thanks [PERSON] ([EMAIL], [PHONE]).")
    assert "unresolved_placeholder" in second.guardrails


def test_the_same_provider_is_given_only_the_current_conversation(ask: Ask, refunds: FixedRetriever) -> None:
    provider = ScriptedProvider(_echo_placeholders)
    ask(MESSAGE, provider, retrieve=refunds, history=[Turn(Role.USER, "My order is TT-55821")])
    ask("How quickly is my refund paid back?", provider, retrieve=refunds)
    second = provider.requests[1]
    assert len(second.messages) == 1
    assert "TT-55821" not in _everything_sent(second)
    assert "refund" in second.messages[0].content
