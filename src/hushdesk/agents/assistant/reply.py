"""What the assistant hands back for one customer message, and how earlier turns come in."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import Role


class Outcome(StrEnum):
    """What a reply did. ANSWERED: grounded in the passages it cites. NOT_FOUND: said it does not
    know (or refused) and offered a person. HANDED_OFF: the conversation goes to a person now."""

    ANSWERED = "answered"
    NOT_FOUND = "not_found"
    HANDED_OFF = "handed_off"


class HandoffReason(StrEnum):
    """The hand-off rule that fired. Every HANDED_OFF reply has one; a NOT_FOUND reply has
    LOW_CONFIDENCE when no passage scored well enough to be used (its text offers a person),
    and none when passages were used but gave no answer."""

    REQUESTED = "requested"
    LOW_CONFIDENCE = "low_confidence"
    REPEATED_FAILURE = "repeated_failure"
    PROVIDER_FAILED = "provider_failed"


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of this conversation, as the customer or the assistant wrote it (PII
    in the clear: the pipeline pseudonymises it). Earlier assistant turns carry their outcome,
    which the repeated-failure rule counts."""

    role: Role
    text: str
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The text to send, what it did, and for the record: the passages it cites (in the order
    of their numbers) and the names of the guardrails that changed it, in the order they fired
    (``image_removed``, ``link_removed``, ``system_prompt_leak``, ``invented_citation``,
    ``unresolved_placeholder``, ``ungrounded``)."""

    text: str
    outcome: Outcome
    handoff: HandoffReason | None
    citations: tuple[Passage, ...]
    guardrails: tuple[str, ...]
