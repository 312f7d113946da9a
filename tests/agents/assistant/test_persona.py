"""An agent's settings are checked when built."""

from __future__ import annotations

import math

import pytest

from hushdesk.agents.assistant.persona import MAX_SYSTEM_PROMPT_CHARS, AgentPersona, HandoffRules


def test_the_defaults_hand_off_on_request_and_after_two_failures() -> None:
    rules = HandoffRules(min_score=0.3)
    assert (rules.on_request, rules.max_failed_turns) == (True, 2)


@pytest.mark.parametrize("turns", [0, -1])
def test_max_failed_turns_below_one_is_refused(turns: int) -> None:
    with pytest.raises(ValueError, match="max_failed_turns"):
        HandoffRules(min_score=0.3, max_failed_turns=turns)


def test_a_non_finite_minimum_score_is_refused() -> None:
    with pytest.raises(ValueError, match="min_score"):
        HandoffRules(min_score=math.nan)


def test_an_agent_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="name"):
        AgentPersona(name="  ", system_prompt="Be kind.")


def test_a_temperature_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="temperature"):
        AgentPersona(name="Nova", system_prompt="", temperature=2.5)


def test_an_overlong_system_prompt_is_refused() -> None:
    with pytest.raises(ValueError, match="system prompt"):
        AgentPersona(name="Nova", system_prompt="x" * (MAX_SYSTEM_PROMPT_CHARS + 1))
