"""Test doubles for the assistant's dependencies: a lexical retriever over a fixed knowledge
base, and chat providers that record what they were sent and reply from a script."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.providers.base import ChatProvider, ChatRequest, ProviderKind, Role
from hushdesk.agents.providers.errors import ProviderError, ProviderTimeout

_WORD = re.compile(r"\w+")
_IGNORED = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "at",
        "be",
        "can",
        "do",
        "does",
        "for",
        "how",
        "i",
        "in",
        "is",
        "it",
        "my",
        "of",
    }
    | {"on", "or", "the", "to", "what", "when", "where", "which", "who", "will", "with", "you", "your", "me"}
    | {"about", "this", "that", "there"}
)


def _terms(text: str) -> set[str]:
    return {word.rstrip("s") for word in _WORD.findall(text.casefold()) if word not in _IGNORED}


class LexicalRetriever:
    """Scores each passage by the share of the query's words it contains (0 to 1) and returns
    the best ``k`` with a score above zero (or all, with ``keep_zero``); records each query."""

    def __init__(self, passages: Sequence[Passage], *, keep_zero: bool = False) -> None:
        self.passages = list(passages)
        self.keep_zero = keep_zero
        self.queries: list[str] = []

    def __call__(self, query: str, *, k: int) -> list[Passage]:
        self.queries.append(query)
        wanted = _terms(query)
        scored = []
        for index, passage in enumerate(self.passages):
            found = _terms(f"{passage.heading} {passage.text}")
            score = len(wanted & found) / len(wanted) if wanted else 0.0
            if score > 0 or self.keep_zero:
                scored.append((-score, index, dataclasses.replace(passage, score=score)))
        return [passage for _, _, passage in sorted(scored, key=lambda item: item[:2])][:k]


class FixedRetriever:
    """Returns the same passages for every query, each with ``score`` (their own when None)."""

    def __init__(self, passages: Sequence[Passage], *, score: float | None = 1.0) -> None:
        self.passages = [p if score is None else dataclasses.replace(p, score=score) for p in passages]

    def __call__(self, query: str, *, k: int) -> list[Passage]:
        return self.passages[:k]


Script = Callable[[ChatRequest], Iterable[str]]


class ScriptedProvider:
    """A chat provider that replies with ``script(request)`` (or fixed pieces), piece by piece,
    raising ``error`` before the piece numbered ``fail_at`` when set. Records every request."""

    def __init__(
        self,
        script: Script | Sequence[str],
        *,
        fail_at: int | None = None,
        error: ProviderError | None = None,
    ) -> None:
        self.script = script
        self.fail_at = fail_at
        self.error = error or ProviderTimeout(
            "read timed out after 30s talking to api.internal with key sk-test-123"
        )
        self.requests: list[ChatRequest] = []

    @property
    def kind(self) -> ProviderKind:
        return ProviderKind.OPENAI_COMPATIBLE

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        self.requests.append(request)
        pieces = list(self.script(request) if callable(self.script) else self.script)
        for number, piece in enumerate(pieces):
            if number == self.fail_at:
                raise self.error
            yield piece
        if self.fail_at is not None and self.fail_at >= len(pieces):
            raise self.error


class RecordingProvider:
    """Passes requests to a real provider and keeps them, to check what it was given."""

    def __init__(self, inner: ChatProvider) -> None:
        self.inner = inner
        self.requests: list[ChatRequest] = []

    @property
    def kind(self) -> ProviderKind:
        return self.inner.kind

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        self.requests.append(request)
        yield from self.inner.stream_chat(request)


def last_customer_message(request: ChatRequest) -> str:
    return next(message.content for message in reversed(request.messages) if message.role is Role.USER)


def placeholders_in(text: str) -> list[str]:
    return re.findall(r"<[A-Z][A-Z0-9_]*_[0-9]+>", text)
