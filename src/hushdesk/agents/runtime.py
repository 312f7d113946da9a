"""Answering for one agent: what a transaction gathers, and the reply made after it ends.

``ready_agent`` runs inside a unit of work: it checks that the agent's provider may be used
(region, acknowledged facts), reveals its API key and takes the agent's index in memory.
``reply`` runs with no transaction open (the provider call is a network call): it retrieves
from that in-memory index only, and runs the assistant pipeline. The preview chat and the
conversation jobs both go through these two functions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import httpx
from pydantic import SecretStr
from sqlalchemy.orm import Session

from hushdesk.agents.assistant.persona import AgentPersona, HandoffRules
from hushdesk.agents.assistant.pipeline import answer
from hushdesk.agents.assistant.reply import Reply, Turn
from hushdesk.agents.knowledge.search import AgentSearcher, KnowledgeIndexCache, searcher_for
from hushdesk.agents.models import Agent
from hushdesk.agents.provider_setup import facts_acknowledged, provider_settings_of
from hushdesk.agents.providers.base import ChatProvider, ProviderKind
from hushdesk.agents.providers.extractive import ExtractiveResponder
from hushdesk.agents.providers.facts import check_region_allowed
from hushdesk.agents.providers.registry import ProviderSettings, build_chat_provider, needs_api_key
from hushdesk.credentials.service import reveal_credential_for_use
from hushdesk.infra.errors import Conflict
from hushdesk.privacy.pii import Detector, NameLexicon
from hushdesk.workspaces.models import Workspace

TONE_WORDS = {
    "friendly": "warm, friendly and concise",
    "formal": "formal, polite and precise",
    "concise": "brief and to the point",
}


class ProviderNotReady(Conflict):
    code = "provider_not_ready"
    default_message = "This agent's model provider is not ready to use."


T = TypeVar("T")


class LoadedOnce(Generic[T]):
    """A value loaded on first use (the PII engine's name lists take a few seconds to read),
    once per process, thread-safe."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._load()
            return self._value


@dataclass(frozen=True)
class AssistantServices:
    """What answering needs, made once per process by ``create_app`` (or a worker) and
    passed down: the PII engine, the index cache and the outbound HTTP client factory."""

    detector: Callable[[], Detector]
    index_cache: KnowledgeIndexCache
    http_client: Callable[[], httpx.Client]
    # The person-name lists, for redacting stored transcripts (None: names are not found).
    names: Callable[[], NameLexicon | None] = lambda: None


@dataclass(frozen=True)
class ReadyAgent:
    """One agent, ready to answer without the database."""

    persona: AgentPersona
    searcher: AgentSearcher
    provider: ProviderSettings
    api_key: SecretStr | None

    def __repr__(self) -> str:
        return f"ReadyAgent({self.persona.name!r}, provider={self.provider.kind.value})"


def persona_of(agent: Agent) -> AgentPersona:
    return AgentPersona(
        name=agent.name,
        system_prompt=agent.system_prompt or "",
        tone=TONE_WORDS.get(agent.tone, TONE_WORDS["friendly"]),
        model=agent.model,
        temperature=agent.temperature,
        handoff=HandoffRules(
            on_request=agent.handoff_on_request,
            min_score=agent.handoff_min_score,
            max_failed_turns=agent.handoff_after_failures,
        ),
    )


def ready_agent(session: Session, agent: Agent, *, services: AssistantServices) -> ReadyAgent:
    """Gather what ``reply`` needs for ``agent`` (which an access function returned). Raises
    ``ProviderNotReady`` (409) when a third-party provider's facts are not acknowledged, its
    region no longer matches the workspace's, or the API key it needs is missing."""
    settings = provider_settings_of(agent)
    if settings.kind is not ProviderKind.EXTRACTIVE:
        region = session.get_one(Workspace, agent.workspace_id).region
        if not check_region_allowed(settings.kind, region, data_region=settings.data_region):
            raise ProviderNotReady("This agent's provider does not process data in the workspace's region.")
        if not facts_acknowledged(agent):
            raise ProviderNotReady("Acknowledge the provider's data-processing facts before using it.")
    api_key = None
    if agent.credential_id is not None:
        api_key = reveal_credential_for_use(
            session, workspace_id=agent.workspace_id, credential_id=agent.credential_id
        )
    elif needs_api_key(settings.kind):
        raise ProviderNotReady("This agent's provider has no API key: add one on its provider page.")
    return ReadyAgent(
        persona=persona_of(agent),
        searcher=searcher_for(session, agent, cache=services.index_cache),
        provider=settings,
        api_key=api_key,
    )


def reply(ready: ReadyAgent, *, history: Sequence[Turn], message: str, services: AssistantServices) -> Reply:
    """The assistant's reply to ``message`` after ``history`` (this conversation only). Call
    with no transaction open: a model provider is called over the network."""
    if ready.provider.kind is ProviderKind.EXTRACTIVE:
        return answer_with(ready, ExtractiveResponder(), history=history, message=message, services=services)
    with services.http_client() as client:
        provider = build_chat_provider(
            ready.provider,
            api_key=ready.api_key.get_secret_value() if ready.api_key else None,
            http_client=client,
        )
        return answer_with(ready, provider, history=history, message=message, services=services)


def answer_with(
    ready: ReadyAgent,
    provider: ChatProvider,
    *,
    history: Sequence[Turn],
    message: str,
    services: AssistantServices,
) -> Reply:
    """The reply with ``provider`` in place of the agent's own (a model stand-in measures the
    pipeline's own cost). Same contract as ``reply``."""
    return answer(
        persona=ready.persona,
        history=history,
        message=message,
        retrieve=ready.searcher,
        provider=provider,
        detector=services.detector(),
        allowed_hosts=ready.searcher.hosts,
    )
