"""The event bus contract: events, subscriptions, limits, and the factory that picks a transport.

An event is a hint that something changed ("conversation X has message 12"), never the change
itself: payloads are small flat JSON objects of ids, counters and short codes, and a subscriber
re-reads the database. So a transport may lose events, as long as the subscriber learns it did:
it then receives one synthetic ``Event(topic="", data={}, resync=True)`` and re-reads its state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

Value = str | int | bool | None
Payload = Mapping[str, Value]

TOPIC_PATTERN = re.compile(r"[a-z][a-z0-9_.:-]{0,127}")
MAX_PAYLOAD_BYTES = 1000


@dataclass(frozen=True, slots=True)
class Event:
    topic: str
    data: dict[str, Value]
    # True for the synthetic event a subscription yields after it dropped events (queue overflow
    # or a lost connection that was re-established): the subscriber must re-read its state.
    resync: bool = False


RESYNC = Event(topic="", data={}, resync=True)


class SubscriptionClosed(RuntimeError):
    """Raised by ``Subscription.next`` once the subscription, or the bus it came from, is closed."""


class Subscription(Protocol):
    async def next(self, timeout: float) -> Event | None:  # noqa: ASYNC109 - the contract: None on expiry
        """The next event, or ``None`` when ``timeout`` seconds pass with none. Raises
        ``SubscriptionClosed`` once the subscription or its bus is closed."""
        ...

    async def aclose(self) -> None:
        """Stop receiving and release the connection. Idempotent."""
        ...


class EventBus(Protocol):
    def publish(self, topic: str, data: Payload) -> None:
        """Send ``data`` to the subscribers of ``topic``. Synchronous, thread-safe, and blocking
        for at most a few seconds (call it from a thread, not an event loop, on network
        transports). Never raises for a transport failure: it logs a warning (without the
        payload) and returns, since the caller has already committed and the event is a hint.
        Raises ``ValueError`` for an invalid topic or payload."""
        ...

    def subscribe(self, topics: Sequence[str]) -> AbstractAsyncContextManager[Subscription]:
        """A subscription to ``topics``, active once the context is entered (an event published
        after ``__aenter__`` returns is delivered). Raises ``ValueError`` for an invalid or empty
        topic list, and ``SubscriptionClosed`` on entry when the bus is closed."""
        ...

    def close(self) -> None:
        """Release the publishing connection and end open subscriptions. Idempotent."""
        ...


def check_topic(topic: str) -> str:
    """Return ``topic`` if it is a valid topic name, else raise ``ValueError``."""
    if not isinstance(topic, str) or TOPIC_PATTERN.fullmatch(topic) is None:
        raise ValueError("event topic must match [a-z][a-z0-9_.:-]{0,127}")
    return topic


def check_topics(topics: Sequence[str]) -> frozenset[str]:
    """The distinct valid topics of ``topics``. Raises ``ValueError`` when there are none, when
    one is invalid, or when a single string is passed (it would read as its characters)."""
    if isinstance(topics, str):
        raise ValueError("subscribe takes a sequence of topics, not one string")
    checked = frozenset(check_topic(topic) for topic in topics)
    if not checked:
        raise ValueError("subscribe needs at least one topic")
    return checked


def _is_value(value: object) -> bool:
    # bool is an int; float is refused so that a payload round-trips exactly.
    return value is None or isinstance(value, str | int)


def encode_payload(data: Payload) -> str:
    """``data`` as compact JSON. Raises ``ValueError`` unless it is a mapping of string keys to
    str, int, bool or None values whose UTF-8 JSON is at most ``MAX_PAYLOAD_BYTES``."""
    if not isinstance(data, Mapping):
        raise ValueError("event payload must be a mapping")
    for key, value in data.items():
        if not isinstance(key, str):
            raise ValueError("event payload keys must be strings")
        if not _is_value(value):
            raise ValueError(f"event payload value for {key!r} must be str, int, bool or None")
    text = json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"event payload is over {MAX_PAYLOAD_BYTES} bytes of JSON")
    return text


def decode_payload(value: object) -> dict[str, Value] | None:
    """A payload received from a transport, or ``None`` when it is not one (a message some other
    program sent on the same channel): the listener skips it."""
    if not isinstance(value, dict):
        return None
    if all(isinstance(key, str) and _is_value(item) for key, item in value.items()):
        return value
    return None


def build_event_bus(url: str) -> EventBus:
    """The bus for ``url``: ``memory://`` (one process), ``redis://`` or ``rediss://`` (Redis
    pub/sub), ``postgresql://`` or ``postgresql+psycopg://`` (LISTEN/NOTIFY). Raises
    ``ValueError`` for any other scheme. Connects lazily: an unreachable server is not an error
    here."""
    # Imported here because each transport module imports this one for the contract.
    if url.startswith("memory://"):
        from hushdesk.infra.events.memory import InProcessEventBus

        return InProcessEventBus()
    if url.startswith(("redis://", "rediss://")):
        from hushdesk.infra.events.redis_bus import RedisEventBus

        return RedisEventBus(url)
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        from hushdesk.infra.events.postgres import PostgresEventBus

        return PostgresEventBus(url)
    raise ValueError("event bus URL must be memory://, redis://, rediss:// or postgresql://")
