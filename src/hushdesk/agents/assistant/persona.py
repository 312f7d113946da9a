"""How one agent speaks and when it brings in a person: the business's settings for the
assistant, validated once when built."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_SYSTEM_PROMPT_CHARS = 8000


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRules:
    """When the assistant hands the conversation to a person.

    ``on_request``: when the customer asks for a person. ``min_score``: passages scoring below it
    are not used (the retriever's scale: scores compare only within one search, so this is set
    per retriever); with none left the assistant does not know. ``max_failed_turns``: the number
    of consecutive unanswered replies after which the conversation goes to a person (at least 1;
    1 hands off at the first). Raises ``ValueError`` for a non-finite ``min_score``
    or a ``max_failed_turns`` below 1.
    """

    on_request: bool = True
    min_score: float
    max_failed_turns: int = 2

    def __post_init__(self) -> None:
        if not math.isfinite(self.min_score):
            raise ValueError("min_score must be a finite number")
        if self.max_failed_turns < 1:
            raise ValueError("max_failed_turns must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPersona:
    """An agent as the assistant sees it. ``system_prompt`` is the business's instructions (kept
    from customers: a reply that reproduces it is refused); ``tone`` a short description such
    as "friendly and concise"; ``model`` and ``temperature`` go to the provider as they are.
    Raises ``ValueError`` for an empty name, a system prompt over ``MAX_SYSTEM_PROMPT_CHARS``
    or a temperature outside [0, 2]."""

    name: str
    system_prompt: str
    tone: str = "friendly and concise"
    model: str = ""
    temperature: float = 0.2
    handoff: HandoffRules = field(default_factory=lambda: HandoffRules(min_score=0.0))

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an agent needs a name")
        if len(self.system_prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise ValueError(f"the system prompt is longer than {MAX_SYSTEM_PROMPT_CHARS} characters")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2")
