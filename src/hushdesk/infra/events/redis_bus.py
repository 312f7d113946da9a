"""The Redis event bus: pub/sub shared by every server process.

A topic is published on the channel ``"hushdesk:" + topic`` (so the bus can share a Redis with
other programs) with the payload's JSON as the message. Publishing uses one synchronous client
(thread-safe through its connection pool); each subscription has its own asyncio connection.

Redis keeps no backlog for pub/sub, and drops a subscriber whose output buffer grows too large:
either way the subscription reconnects and yields a resync event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from hushdesk.infra.events.bus import (
    Event,
    Payload,
    Subscription,
    check_topic,
    check_topics,
    decode_payload,
    encode_payload,
)
from hushdesk.infra.events.reconnecting import ReconnectingSubscription, opened

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "hushdesk:"
# Seconds: a publish is a hint after a commit, so it may cost a worker at most a few seconds.
SOCKET_TIMEOUT = 2.0
# Seconds between pings on an idle subscription, which notice a connection that died silently.
HEALTH_CHECK_INTERVAL = 30


def channel_for(topic: str) -> str:
    return CHANNEL_PREFIX + topic


class RedisEventBus:
    """Publishes with a shared synchronous client; subscribes with a connection per subscription."""

    def __init__(self, url: str) -> None:
        """``url``: ``redis://...`` or ``rediss://...``. Connects lazily."""
        self._url = url
        # One retry: a pooled connection may be stale after a Redis restart, and a fresh one
        # then succeeds. More would only keep the worker waiting on a Redis that is down.
        self._client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._closed = threading.Event()

    def publish(self, topic: str, data: Payload) -> None:
        check_topic(topic)
        message = encode_payload(data)
        if self._closed.is_set():
            log.warning("event bus is closed; event dropped", extra={"topic": topic})
            return
        try:
            self._client.publish(channel_for(topic), message)
        except (RedisError, OSError) as exc:
            log.warning(
                "event not published: Redis is unavailable",
                extra={"topic": topic, "error": type(exc).__name__},
            )

    def subscribe(self, topics: Sequence[str]) -> AbstractAsyncContextManager[Subscription]:
        checked = check_topics(topics)
        return opened(RedisSubscription(url=self._url, topics=checked, bus_closed=self._closed))

    def close(self) -> None:
        """Close the publishing client; open subscriptions end within about a second."""
        self._closed.set()
        self._client.close()


class RedisSubscription(ReconnectingSubscription):
    """A pub/sub connection subscribed to the channels of some topics."""

    transport_errors = (RedisError, OSError)
    transport_name = "redis"

    def __init__(self, *, url: str, topics: frozenset[str], bus_closed: threading.Event) -> None:
        super().__init__(bus_closed=bus_closed)
        self._url = url
        self._topics_by_channel = {channel_for(topic).encode(): topic for topic in topics}
        self._client: redis.asyncio.Redis | None = None
        self._pubsub: PubSub | None = None

    async def _connect(self) -> None:
        # No retries inside redis-py: its retry handler reconnects and resubscribes on its own,
        # which could hide that messages were lost. A lost connection must surface here, where
        # it becomes a resync event.
        client = redis.asyncio.Redis.from_url(
            self._url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_INTERVAL,
            retry=AsyncRetry(NoBackoff(), 0),
        )
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(*self._topics_by_channel)
            await self._await_confirmations(pubsub)
        except BaseException:
            await _release(client, pubsub)
            raise
        self._client, self._pubsub = client, pubsub

    async def _await_confirmations(self, pubsub: PubSub) -> None:
        # SUBSCRIBE is confirmed per channel; until every confirmation is read a publish could
        # still miss us. A message arriving in between is kept.
        waiting = set(self._topics_by_channel)
        while waiting:
            message = await pubsub.get_message(timeout=SOCKET_TIMEOUT)
            if message is None:
                raise RedisTimeoutError("Redis did not confirm the subscription")
            if message["type"] == "subscribe":
                waiting.discard(message["channel"])
            else:
                self._pending.extend(self._events_from(message))

    async def _disconnect(self) -> None:
        client, pubsub = self._client, self._pubsub
        self._client = self._pubsub = None
        if client is not None and pubsub is not None:
            await _release(client, pubsub)

    async def _receive(self, wait: float) -> list[Event]:
        assert self._pubsub is not None
        message = await self._pubsub.get_message(timeout=wait)
        return [] if message is None else self._events_from(message)

    def _events_from(self, message: dict[str, Any]) -> list[Event]:
        if message["type"] != "message":
            return []
        topic = self._topics_by_channel.get(message["channel"])
        if topic is None:
            return []
        try:
            data = decode_payload(json.loads(message["data"]))
        except (ValueError, UnicodeDecodeError):
            data = None
        if data is None:
            # Someone else's message on our channel: not an event of ours, and not logged in full.
            log.warning("ignored a malformed event message", extra={"topic": topic})
            return []
        return [Event(topic=topic, data=data)]


async def _release(client: redis.asyncio.Redis, pubsub: PubSub) -> None:
    # The connection may already be broken: closing it must not fail the caller.
    for close in (pubsub.aclose, client.aclose):
        with contextlib.suppress(RedisError, OSError):
            await close()
