"""From a customer's message to the reply a customer may see.

The order, and why:

1. A customer who asks for a person gets one, before anything else (no model call).
2. Retrieval runs locally on the raw message (with the previous customer message for a short
   follow-up such as "and for Canada?"); passages under the persona's ``min_score`` are dropped,
   and with none left the reply is "not found" without a model call.
3. The conversation is pseudonymised: the provider sees placeholders, never the customer's
   values. The mapping is built here, per call, from this conversation's turns only, so nothing
   of another conversation can be resolved into a reply.
4. The provider's stream is collected; a ``ProviderError`` at any point gives a short apology
   and a hand-off, never the error's detail, and nothing of the partial stream.
5. Guardrails, in this order: restore personal data (first, so every later check sees the text
   the customer would see); refuse a reply that reproduces our rules or the business's
   instructions; remove images and outside links; drop invented citations; and send "not
   found" for a reply that no given passage grounds.
6. A "not found" that would be the persona's ``max_failed_turns``-th in a row hands off instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence, Set
from types import GeneratorType
from typing import Protocol

from hushdesk.agents.assistant import wording
from hushdesk.agents.assistant.guardrails.citations import check_citations
from hushdesk.agents.assistant.guardrails.grounding import Grounding, judge_grounding
from hushdesk.agents.assistant.guardrails.leaks import reproduces_instructions
from hushdesk.agents.assistant.guardrails.links import strip_links
from hushdesk.agents.assistant.guardrails.placeholders import restore_personal_data
from hushdesk.agents.assistant.handoff import asks_for_person, reaches_failure_limit, usable_passages
from hushdesk.agents.assistant.persona import AgentPersona
from hushdesk.agents.assistant.prompt import REFERENCE_NOTE, SAFETY_PREAMBLE, build_request
from hushdesk.agents.assistant.reply import HandoffReason, Outcome, Reply, Turn
from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import ChatProvider, Role
from hushdesk.agents.providers.errors import ProviderError
from hushdesk.privacy.pii import Detector
from hushdesk.privacy.pii.pseudonymise import ConversationPseudonyms

logger = logging.getLogger(__name__)

# A reply longer than this is cut (and the stream closed): no support answer needs more, and a
# runaway stream must not grow without bound.
MAX_COLLECTED_CHARS = 16_000
# A message this short, or this short and starting with a connective, is read as a follow-up of
# the previous customer message when retrieving.
FOLLOW_UP_MAX_WORDS = 3
FOLLOW_UP_WITH_CONNECTIVE_MAX_WORDS = 8
_FOLLOW_UP_START = re.compile(
    r"^\W*(?:and|also|what about|how about|what if|en|und|et|y|e|ook)\b", re.IGNORECASE
)


class Retriever(Protocol):
    def __call__(self, query: str, *, k: int) -> list[Passage]:
        """Up to ``k`` passages of this agent's knowledge for ``query``, best first."""
        ...


def answer(
    *,
    persona: AgentPersona,
    history: Sequence[Turn],
    message: str,
    retrieve: Retriever,
    provider: ChatProvider,
    detector: Detector,
    allowed_hosts: frozenset[str],
    k: int = 5,
) -> Reply:
    """The reply to ``message``, the customer's newest turn after ``history`` (this
    conversation's earlier turns, oldest first, in the clear). Stores nothing.

    Raises ``ValueError`` for an empty message or ``k`` below 1. A ``ProviderError`` becomes a
    HANDED_OFF reply; other exceptions of the retriever or the provider propagate.
    """
    if not message.strip():
        raise ValueError("the customer's message is empty")
    if k < 1:
        raise ValueError("k must be at least 1")
    rules = persona.handoff
    if rules.on_request and asks_for_person(message):
        return _handed_off(wording.HANDED_OFF_ON_REQUEST, HandoffReason.REQUESTED)
    passages = usable_passages(retrieve(_retrieval_query(history, message), k=k)[:k], rules)
    if not passages:
        return _not_found(persona, history, HandoffReason.LOW_CONFIDENCE, ())
    pseudonyms = ConversationPseudonyms(detector)
    request = build_request(
        persona=persona, history=history, message=message, passages=passages, pseudonyms=pseudonyms
    )
    try:
        raw = _collected(provider.stream_chat(request))
    except ProviderError as exc:
        # The class and public message only: the detail may quote the request.
        logger.warning("model provider failed: %s (%s)", type(exc).__name__, exc.public_message)
        return _handed_off(wording.PROVIDER_FAILED, HandoffReason.PROVIDER_FAILED)
    return _guarded(
        raw,
        persona=persona,
        history=history,
        passages=passages,
        pseudonyms=pseudonyms,
        allowed_hosts=allowed_hosts,
    )


def _guarded(
    raw: str,
    *,
    persona: AgentPersona,
    history: Sequence[Turn],
    passages: Sequence[Passage],
    pseudonyms: ConversationPseudonyms,
    allowed_hosts: Set[str],
) -> Reply:
    """The provider's text after every guardrail, in the order of the module docstring."""
    fired: list[str] = []
    restored = restore_personal_data(pseudonyms, raw)
    if restored.neutralised:
        fired.append("unresolved_placeholder")
    instructions = (SAFETY_PREAMBLE, REFERENCE_NOTE, persona.system_prompt)
    if reproduces_instructions(restored.text, instructions=instructions, passages=passages):
        fired.append("system_prompt_leak")
        return _not_found(persona, history, None, tuple(fired), text=wording.LEAK_REFUSAL)
    links = strip_links(restored.text, allowed_hosts)
    if links.images_removed:
        fired.append("image_removed")
    if links.links_removed:
        fired.append("link_removed")
    citations = check_citations(links.text, len(passages))
    if citations.invented:
        fired.append("invented_citation")
    grounding = judge_grounding(citations.text, cited=citations.cited, passage_count=len(passages))
    if grounding is Grounding.GROUNDED:
        cited = tuple(passages[number - 1] for number in citations.cited)
        return Reply(citations.text, Outcome.ANSWERED, None, cited, tuple(fired))
    if grounding is Grounding.UNGROUNDED:
        fired.append("ungrounded")
    return _not_found(persona, history, None, tuple(fired))


def _not_found(
    persona: AgentPersona,
    history: Sequence[Turn],
    reason: HandoffReason | None,
    fired: tuple[str, ...],
    *,
    text: str = wording.NOT_FOUND,
) -> Reply:
    """A reply that offers a person, or hands off when it would be one failure too many."""
    if reaches_failure_limit(history, persona.handoff):
        return Reply(
            wording.HANDED_OFF_AFTER_FAILURES, Outcome.HANDED_OFF, HandoffReason.REPEATED_FAILURE, (), fired
        )
    return Reply(text, Outcome.NOT_FOUND, reason, (), fired)


def _handed_off(text: str, reason: HandoffReason) -> Reply:
    return Reply(text, Outcome.HANDED_OFF, reason, (), ())


def _retrieval_query(history: Sequence[Turn], message: str) -> str:
    """The message, preceded by the previous customer message when it reads as a follow-up."""
    words = len(message.split())
    connective = _FOLLOW_UP_START.search(message) is not None
    if words > FOLLOW_UP_MAX_WORDS and not (connective and words <= FOLLOW_UP_WITH_CONNECTIVE_MAX_WORDS):
        return message
    previous = next(
        (turn.text for turn in reversed(history) if turn.role is Role.USER and turn.text.strip()), None
    )
    return message if previous is None else f"{previous}\n{message}"


def _collected(stream: Iterator[str]) -> str:
    """The stream's text, up to ``MAX_COLLECTED_CHARS``; a longer stream is closed early."""
    pieces: list[str] = []
    size = 0
    try:
        for piece in stream:
            pieces.append(piece)
            size += len(piece)
            if size >= MAX_COLLECTED_CHARS:
                break
    finally:
        if isinstance(stream, GeneratorType):
            stream.close()
    return "".join(pieces)[:MAX_COLLECTED_CHARS]
