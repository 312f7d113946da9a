"""The assistant's fixtures: the evaluation knowledge base, the agent, and a way to ask."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from hushdesk.agents.assistant.persona import AgentPersona, HandoffRules
from hushdesk.agents.assistant.pipeline import Retriever, answer
from hushdesk.agents.assistant.reply import Reply, Turn
from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import ChatProvider
from hushdesk.privacy.pii import Detector
from tests.agents.assistant.doubles import LexicalRetriever
from tests.agents.assistant.knowledge_base import ALLOWED_HOSTS, SYSTEM_PROMPT, build_passages

# The lexical retriever's scores are the share of the query's words a passage holds.
MIN_SCORE = 0.34

Ask = Callable[..., Reply]


@pytest.fixture(scope="session")
def kb() -> dict[str, Passage]:
    return build_passages()


@pytest.fixture
def persona() -> AgentPersona:
    return AgentPersona(
        name="Nova",
        system_prompt=SYSTEM_PROMPT,
        tone="warm and brief",
        model="test-model",
        temperature=0.1,
        handoff=HandoffRules(min_score=MIN_SCORE, max_failed_turns=2),
    )


@pytest.fixture
def retriever(kb: dict[str, Passage]) -> LexicalRetriever:
    return LexicalRetriever(list(kb.values()))


@pytest.fixture
def ask(persona: AgentPersona, retriever: LexicalRetriever, detector: Detector) -> Ask:
    """``answer`` with the fixtures' agent, knowledge and detector; keywords override them."""

    def call(
        message: str,
        provider: ChatProvider,
        *,
        history: Sequence[Turn] = (),
        retrieve: Retriever | None = None,
        agent: AgentPersona | None = None,
    ) -> Reply:
        return answer(
            persona=agent or persona,
            history=history,
            message=message,
            retrieve=retrieve or retriever,
            provider=provider,
            detector=detector,
            allowed_hosts=ALLOWED_HOSTS,
        )

    return call
