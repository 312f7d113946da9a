"""The hand-off rules: asked for a person, nothing good enough found, failing too often."""

from __future__ import annotations

import dataclasses

import pytest

from hushdesk.agents.assistant.handoff import (
    asks_for_person,
    consecutive_failures,
    reaches_failure_limit,
    usable_passages,
)
from hushdesk.agents.assistant.persona import AgentPersona, HandoffRules
from hushdesk.agents.assistant.reply import HandoffReason, Outcome, Turn
from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import Role
from hushdesk.agents.providers.extractive import ExtractiveResponder
from tests.agents.assistant.conftest import Ask
from tests.agents.assistant.doubles import LexicalRetriever, RecordingProvider

ASKS = [
    "talk to a human",
    "Can I talk to someone?",
    "I'd like to speak with an agent",
    "let me speak to a manager",
    "is there a real person there?",
    "please connect me with a representative",
    "I need a human",
    "HUMAN PLEASE",
    "agent",
    "operator!",
    "Ik wil een mens spreken",
    "kan ik met een medewerker praten?",
    "Kan ek met 'n mens praat?",
    "Ich will mit einem Menschen reden",
    "Kann ich bitte mit einem Mitarbeiter sprechen?",
    "je veux parler à quelqu\u2019un",  # a typographic apostrophe
    "un humain svp",
    "quiero una persona real",
    "¿Puedo hablar con un agente?",
    "quero falar com um atendente",
    "posso parlare con un operatore?",
    "No, I want a human!",
]
DOES_NOT_ASK = [
    "How long does shipping take?",
    "I don't need a human, just tell me the return window",
    "no need to talk to a person, what are your hours?",
    "Do you sell mens jackets?",
    "Which mobile operator do you work with?",
    "Was this written by a human?",
    "My travel agent booked it",
]


@pytest.mark.parametrize("message", ASKS)
def test_asking_for_a_person_is_recognised(message: str) -> None:
    assert asks_for_person(message)


@pytest.mark.parametrize("message", DOES_NOT_ASK)
def test_other_messages_do_not_ask_for_a_person(message: str) -> None:
    assert not asks_for_person(message)


def test_a_request_is_not_handed_off_when_the_agent_does_not_offer_it(
    ask: Ask, persona: AgentPersona
) -> None:
    agent = dataclasses.replace(persona, handoff=dataclasses.replace(persona.handoff, on_request=False))
    provider = RecordingProvider(ExtractiveResponder())
    reply = ask("I want to talk to a human", provider, agent=agent)
    assert reply.handoff is not HandoffReason.REQUESTED
    assert reply.outcome is Outcome.NOT_FOUND


def test_a_negated_request_is_answered_normally(ask: Ask) -> None:
    reply = ask(
        "I don't need a human, just tell me how many days I have to return an item",
        RecordingProvider(ExtractiveResponder()),
    )
    assert reply.outcome is not Outcome.HANDED_OFF


def test_passages_under_the_minimum_score_are_not_usable(kb: dict[str, Passage]) -> None:
    passages = [dataclasses.replace(kb["tracking"], score=score) for score in (0.9, 0.5, 0.49)]
    assert [p.score for p in usable_passages(passages, HandoffRules(min_score=0.5))] == [0.9, 0.5]
    assert usable_passages([], HandoffRules(min_score=0.0)) == ()


def _turns(*outcomes: Outcome | None) -> list[Turn]:
    turns: list[Turn] = []
    for outcome in outcomes:
        turns += [Turn(Role.USER, "question"), Turn(Role.ASSISTANT, "reply", outcome)]
    return turns


def test_failures_are_counted_back_to_the_last_answered_turn() -> None:
    assert consecutive_failures([]) == 0
    assert consecutive_failures(_turns(Outcome.NOT_FOUND, Outcome.ANSWERED)) == 0
    assert consecutive_failures(_turns(Outcome.ANSWERED, Outcome.NOT_FOUND, Outcome.NOT_FOUND)) == 2
    assert consecutive_failures(_turns(Outcome.NOT_FOUND, None)) == 0
    assert consecutive_failures([*_turns(Outcome.NOT_FOUND), Turn(Role.USER, "hello?")]) == 1


def test_the_limit_is_reached_by_the_max_failed_turns_th_failure() -> None:
    rules = HandoffRules(min_score=0.0, max_failed_turns=3)
    assert not reaches_failure_limit(_turns(Outcome.NOT_FOUND), rules)
    assert reaches_failure_limit(_turns(Outcome.NOT_FOUND, Outcome.NOT_FOUND), rules)
    assert reaches_failure_limit([], HandoffRules(min_score=0.0, max_failed_turns=1))


def test_low_confidence_twice_in_a_row_hands_off(ask: Ask) -> None:
    provider = RecordingProvider(ExtractiveResponder())
    first = ask("Do you sell gift cards?", provider)
    assert (first.outcome, first.handoff) == (Outcome.NOT_FOUND, HandoffReason.LOW_CONFIDENCE)
    history = [Turn(Role.USER, "Do you sell gift cards?"), Turn(Role.ASSISTANT, first.text, first.outcome)]
    second = ask("Can I pay with PayPal?", provider, history=history)
    assert (second.outcome, second.handoff) == (Outcome.HANDED_OFF, HandoffReason.REPEATED_FAILURE)


def test_an_answer_in_between_resets_the_count(ask: Ask) -> None:
    history = _turns(Outcome.NOT_FOUND, Outcome.ANSWERED)
    reply = ask("Do you sell gift cards?", RecordingProvider(ExtractiveResponder()), history=history)
    assert reply.outcome is Outcome.NOT_FOUND


def test_a_short_follow_up_is_retrieved_with_the_previous_question(
    ask: Ask, retriever: LexicalRetriever
) -> None:
    history = [
        Turn(Role.USER, "How long does shipping to Germany take?"),
        Turn(
            Role.ASSISTANT, "Shipping to Germany and Belgium takes 2-4 business days. [1]", Outcome.ANSWERED
        ),
    ]
    reply = ask("and to Canada?", RecordingProvider(ExtractiveResponder()), history=history)
    assert retriever.queries[-1] == "How long does shipping to Germany take?\nand to Canada?"
    assert reply.outcome is Outcome.ANSWERED
    assert "7-10 business days" in reply.text


def test_a_full_question_is_retrieved_on_its_own(ask: Ask, retriever: LexicalRetriever) -> None:
    history = [Turn(Role.USER, "How long does shipping to Germany take?")]
    ask("How do I make a warranty claim?", RecordingProvider(ExtractiveResponder()), history=history)
    assert retriever.queries[-1] == "How do I make a warranty claim?"
