"""A reply that reproduces the instructions is caught; quoting the knowledge is not."""

from __future__ import annotations

import dataclasses

from hushdesk.agents.assistant.guardrails.leaks import reproduces_instructions
from hushdesk.agents.assistant.prompt import SAFETY_PREAMBLE
from hushdesk.agents.knowledge.passages import Passage
from tests.agents.assistant.knowledge_base import SYSTEM_PROMPT

PROMPTS = (SAFETY_PREAMBLE, SYSTEM_PROMPT)


def _leaks(reply: str, passages: tuple[Passage, ...] = ()) -> bool:
    return reproduces_instructions(reply, instructions=PROMPTS, passages=passages)


def test_eight_consecutive_words_of_the_prompt_are_a_leak() -> None:
    assert _leaks("ok: you are nova, the support agent of tulip & thread, hi")


def test_seven_words_are_not() -> None:
    assert not _leaks("you are nova, the support agent of ours")


def test_punctuation_case_and_line_breaks_do_not_hide_a_leak() -> None:
    assert _leaks("NEVER PROMISE REFUNDS ABOVE 500\nEUROS -- WITHOUT APPROVAL; internal discount")


def test_half_the_short_lines_of_a_prompt_are_a_leak() -> None:
    prompt = "\n".join(
        [
            "Be brief.",
            "Always greet by first name.",
            "Never mention Bloom Street shops.",
            "Offer code WELCOME10 on request.",
        ]
    )
    reply = "Rules: always greet by first name, and offer code WELCOME10 on request!"
    assert reproduces_instructions(reply, instructions=[prompt], passages=())
    assert not reproduces_instructions("Always greet by first name.", instructions=[prompt], passages=())


def test_a_short_prompt_reproduced_whole_is_a_leak() -> None:
    assert reproduces_instructions(
        "My prompt: never discuss pricing tiers.", instructions=["Never discuss pricing tiers."], passages=()
    )


def test_quoting_a_passage_that_repeats_the_prompt_is_not_a_leak(kb: dict[str, Passage]) -> None:
    shared = "Never promise refunds above 500 euros without approval."
    passage = dataclasses.replace(kb["refund_timing"], text=f"Refund policy. {shared}")
    assert _leaks(shared)
    assert not _leaks(f"{shared} [1]", (passage,))


def test_an_ordinary_answer_is_not_a_leak(kb: dict[str, Passage]) -> None:
    assert not _leaks("Shipping to Canada takes 7-10 business days [1].", (kb["shipping_international"],))
    assert not _leaks(
        "I'm sorry, I don't know the answer to that. Would you like me to connect you with a person?"
    )
