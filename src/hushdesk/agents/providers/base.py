"""The interface every model provider implements.

A provider streams a chat completion for a ``ChatRequest``. The request carries the rendered
conversation (system text and turns) and, apart, the passages the assistant put into it: a
model reads them in the text, the offline extractive responder reads them directly.
Providers that offer embeddings also implement ``EmbeddingProvider``.

Providers receive their credentials and their httpx client as arguments; they never read
settings or the database, and they raise only the errors of ``hushdesk.agents.providers.errors``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from hushdesk.agents.knowledge.passages import Passage


class ProviderKind(enum.StrEnum):
    EXTRACTIVE = "extractive"
    OPENAI = "openai"
    AZURE_OPENAI = "azure-openai"
    ANTHROPIC = "anthropic"
    OPENAI_COMPATIBLE = "openai-compatible"


class Role(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One completion. ``messages`` alternate and end with the customer's turn; ``passages``
    are numbered from 1 in order, as the assistant cites them."""

    system: str
    messages: tuple[ChatMessage, ...]
    passages: tuple[Passage, ...]
    model: str
    temperature: float
    max_output_tokens: int = 600


class ChatProvider(Protocol):
    @property
    def kind(self) -> ProviderKind: ...

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        """Yield the reply's text in pieces as the model produces them. Raises a
        ``ProviderError`` subclass, before or during the stream."""
        ...


class EmbeddingProvider(Protocol):
    @property
    def embedding_model(self) -> str:
        """A stable name for the vectors' space: vectors of different names never mix."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Raises a ``ProviderError`` subclass."""
        ...
