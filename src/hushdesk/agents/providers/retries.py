"""Our retry policy for model providers: retry only where it is safe.

A chat reply is retried only while nothing of it has reached the caller. Once a piece of text
has been yielded, a failure propagates as it is: starting the reply again would send the
customer the same opening twice, or two different ones. Embeddings have no partial result, so
any retryable failure may be retried.

What is retried: errors whose ``retryable`` flag is set (timeouts, rate limits, an
unavailable or overloaded provider, broken connections). Never: refused credentials, the
content filter, rejected requests (including an endpoint the SSRF guard refused).

The SDKs' own retries are switched off (``max_retries=0``) so that this is the only policy.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hushdesk.agents.providers.base import ChatProvider, ChatRequest, EmbeddingProvider, ProviderKind
from hushdesk.agents.providers.errors import ProviderError, ProviderRateLimited

T = TypeVar("T")

Sleep = Callable[[float], None]
Jitter = Callable[[], float]
"""Returns a number in [0, 1); ``random.random`` outside tests."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how long to wait.

    ``max_retries``: retries after the first attempt (0 switches retrying off). The n-th
    retry (from 0) waits ``min(max_delay, base_delay * 2**n)`` scaled by a factor drawn from
    [0.5, 1) ("equal jitter"), so that many workers that failed together do not retry together.
    A rate limit with a Retry-After waits exactly that long, but only up to
    ``max_retry_after``: a provider asking for longer than that is not retried here; the
    error propagates with its ``retry_after`` so that the caller can reschedule the work.
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 20.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def delay_before_retry(self, error: ProviderError, retry: int, jitter: Jitter) -> float | None:
        """Seconds to wait before retry number ``retry`` (from 0) after ``error``, or ``None``
        when it must not be retried (not retryable, retries used up, Retry-After too long)."""
        if not error.retryable or retry >= self.max_retries:
            return None
        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        backoff = min(self.max_delay, self.base_delay * 2.0**retry)
        return backoff * (0.5 + jitter() / 2)


DEFAULT_RETRY_POLICY = RetryPolicy()
NO_RETRIES = RetryPolicy(max_retries=0)


def stream_with_retries(
    open_stream: Callable[[], Iterator[str]],
    *,
    policy: RetryPolicy,
    sleep: Sleep = time.sleep,
    jitter: Jitter = random.random,
) -> Generator[str, None, None]:
    """Yield the pieces of ``open_stream()``; when it fails with a retryable ``ProviderError``
    before its first piece, wait and call it again, as ``policy`` allows. A failure after the
    first piece, a non-retryable one, or the last one propagates unchanged. Empty pieces do
    not count as text."""
    retry = 0
    while True:
        started = False
        stream = open_stream()
        try:
            for piece in stream:
                if piece:
                    started = True
                    yield piece
            return
        except ProviderError as error:
            delay = None if started else policy.delay_before_retry(error, retry, jitter)
            if delay is None:
                raise
        finally:
            # A caller that stops reading closes this generator; close the attempt with it, so
            # that its HTTP response is released now rather than when it is collected.
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        sleep(delay)
        retry += 1


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Sleep = time.sleep,
    jitter: Jitter = random.random,
) -> T:
    """``call()``, called again after a retryable ``ProviderError`` as ``policy`` allows; for
    calls without a partial result (embeddings). The last failure propagates unchanged."""
    retry = 0
    while True:
        try:
            return call()
        except ProviderError as error:
            delay = policy.delay_before_retry(error, retry, jitter)
            if delay is None:
                raise
        sleep(delay)
        retry += 1


class RetryingChatProvider:
    """A ``ChatProvider`` that retries ``inner`` under ``policy`` (see ``stream_with_retries``)."""

    def __init__(
        self,
        inner: ChatProvider,
        *,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Sleep = time.sleep,
        jitter: Jitter = random.random,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._jitter = jitter

    @property
    def kind(self) -> ProviderKind:
        return self._inner.kind

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        return stream_with_retries(
            lambda: self._inner.stream_chat(request),
            policy=self._policy,
            sleep=self._sleep,
            jitter=self._jitter,
        )

    def __repr__(self) -> str:
        return f"RetryingChatProvider({self._inner!r}, max_retries={self._policy.max_retries})"


class RetryingEmbeddingProvider:
    """An ``EmbeddingProvider`` that retries ``inner`` under ``policy``."""

    def __init__(
        self,
        inner: EmbeddingProvider,
        *,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Sleep = time.sleep,
        jitter: Jitter = random.random,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._jitter = jitter

    @property
    def embedding_model(self) -> str:
        return self._inner.embedding_model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return call_with_retries(
            lambda: self._inner.embed(texts), policy=self._policy, sleep=self._sleep, jitter=self._jitter
        )

    def __repr__(self) -> str:
        return f"RetryingEmbeddingProvider({self._inner!r}, max_retries={self._policy.max_retries})"
