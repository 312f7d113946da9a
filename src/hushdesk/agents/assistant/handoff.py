"""The three rules that bring in a person: the customer asks for one, nothing in the knowledge
scored well enough, or the assistant failed too many times in a row.

Asking for a person is recognised by phrases in English, Dutch, Afrikaans, German, French,
Spanish, Portuguese and Italian, unless a negation comes just before ("I don't need a human").
Limits: phrases outside these lists ("can I call someone?") are not recognised; the customer
can still ask again in other words, and repeated failure brings a person in anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hushdesk.agents.assistant.persona import HandoffRules
from hushdesk.agents.assistant.reply import Outcome, Turn
from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import Role

_PERSON = (
    r"(?:a |an |the |some |one of your )?(?:human|person|agent|someone|somebody|anyone|representative|rep"
    r"|manager|supervisor|operator|staff|employee|real person|live agent|human being|colleague)"
)
_CUES = re.compile(
    "|".join(
        (
            # English
            rf"\b(?:talk|speak|chat)\s+(?:to|with)\s+{_PERSON}\b",
            rf"\b(?:connect|transfer|put)\s+me\b.{{0,25}}\b{_PERSON}\b",
            rf"\b(?:want|need|like|prefer|give me|get me)\s+{_PERSON}\b",
            r"\b(?:real|actual|live)\s+(?:person|human|agent|people)\b",
            r"\bhuman\s+(?:agent|being|support|help|please)\b",
            r"(?<!network )(?<!mobile )(?<!tour )(?<!phone )(?<!machine )\boperator\b",
            r"^\W*(?:human|agent|representative|person|a person|a human)\W*(?:please)?\W*$",
            # Dutch and Afrikaans
            r"(?:\b(?:een|echte|echt|met)\s+|'n\s+)mens\b",
            r"\bmens\s+(?:spreken|praten|aan de lijn)\b",
            r"\b(?:spreken|praten)\b.{0,30}\bmedewerker\b|\bmedewerker\b.{0,30}\b(?:spreken|praten)\b",
            # German
            r"\bmenschen?\b",
            r"\b(?:mitarbeiter|mitarbeiterin|berater|beraterin)\b.{0,30}\bsprechen\b",
            r"\bsprechen\b.{0,30}\b(?:mitarbeiter|mitarbeiterin|berater|beraterin)\b",
            # French
            r"\bhumaine?s?\b",
            r"\b(?:vraie?|réelle)\s+personne\b",
            r"\b(?:parler|discuter)\s+(?:à|a|avec)\s+(?:quelqu'un|une personne|un conseiller|une conseillère"
            r"|un agent|un opérateur)\b",
            # Spanish, Portuguese, Italian
            r"\bpersona\s+(?:real|de verdad)\b|\bpessoa\s+(?:real|de verdade)\b",
            r"\bhablar\s+con\s+(?:una persona|alguien|un agente|un humano|un operador|un asesor)\b",
            r"\bfalar\s+com\s+(?:uma pessoa|alguém|um atendente|um humano|um agente)\b",
            r"\bparlare\s+con\s+(?:una persona|qualcuno|un operatore|un umano)\b",
            r"\b(?:humano|atendente|operador|opérateur|operatore)\b",
        )
    ),
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:don't|dont|do not|doesn't|does not|no need|not|never|niet|geen|nicht|kein\w*|pas|jamais"
    r"|nunca|no quiero|no necesito|non voglio)\b[^.!?,;]{0,20}$",
    re.IGNORECASE,
)


def asks_for_person(message: str) -> bool:
    """Whether the customer asks to talk to a person (see the module docstring)."""
    text = " ".join(message.replace("\u2019", "'").split())
    return any(not _NEGATION.search(text[: match.start()]) for match in _CUES.finditer(text))


def usable_passages(passages: Sequence[Passage], rules: HandoffRules) -> tuple[Passage, ...]:
    """The passages scoring at least ``rules.min_score``, in the retriever's order. None left
    is the low-confidence rule."""
    return tuple(passage for passage in passages if passage.score >= rules.min_score)


def consecutive_failures(history: Sequence[Turn]) -> int:
    """How many of the latest assistant turns, in a row, were NOT_FOUND (customer turns in
    between do not break the run; an assistant turn with another outcome, or none, does)."""
    count = 0
    for turn in reversed(history):
        if turn.role is Role.USER:
            continue
        if turn.outcome is not Outcome.NOT_FOUND:
            break
        count += 1
    return count


def reaches_failure_limit(history: Sequence[Turn], rules: HandoffRules) -> bool:
    """Whether one more unanswered reply would be the ``rules.max_failed_turns``-th in a row."""
    return consecutive_failures(history) + 1 >= rules.max_failed_turns
