"""The PostgreSQL event bus: LISTEN/NOTIFY, for deployments with no Redis.

PostgreSQL identifiers are at most 63 bytes, and a topic may be 128 characters, so each topic
has a channel ``"hd_" + the first 40 hex digits of sha256(topic)``; the notification carries
the topic beside the payload (``{"topic": ..., "data": {...}}``) and a listener keeps only
exact matches. Publishing uses one synchronous autocommit connection behind a lock; each
subscription has its own asynchronous autocommit connection.

Notifications are delivered only to sessions listening when the notifying transaction commits:
a listener whose connection dropped reconnects and yields a resync event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import sql

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

# Seconds; keepalives notice a listener connection that died without a word.
CONNECT_OPTIONS: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": 2,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def channel_for(topic: str) -> str:
    """The NOTIFY channel of ``topic``: 43 characters, a valid unquoted identifier."""
    return "hd_" + hashlib.sha256(topic.encode()).hexdigest()[:40]


def psycopg_conninfo(url: str) -> str:
    """``url`` as libpq takes it: SQLAlchemy's ``postgresql+psycopg://`` becomes ``postgresql://``."""
    driver_prefix = "postgresql+psycopg://"
    if url.startswith(driver_prefix):
        return "postgresql://" + url[len(driver_prefix) :]
    return url


class PostgresEventBus:
    """Publishes with ``pg_notify`` on a shared connection; subscribes with LISTEN."""

    def __init__(self, url: str) -> None:
        """``url``: ``postgresql://...`` or ``postgresql+psycopg://...``. Connects lazily."""
        self._conninfo = psycopg_conninfo(url)
        # Guards the publishing connection: psycopg connections are not for concurrent use,
        # and publishers are threads.
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._closed = threading.Event()

    def publish(self, topic: str, data: Payload) -> None:
        """See ``EventBus.publish``. Holds the bus's lock for the round trip."""
        check_topic(topic)
        message = f'{{"topic":{json.dumps(topic)},"data":{encode_payload(data)}}}'
        with self._lock:
            if self._closed.is_set():
                log.warning("event bus is closed; event dropped", extra={"topic": topic})
                return
            error = self._notify_locked(channel_for(topic), message)
        if error is not None:
            log.warning(
                "event not published: PostgreSQL is unavailable",
                extra={"topic": topic, "error": type(error).__name__},
            )

    def _notify_locked(self, channel: str, message: str) -> psycopg.Error | None:
        # A connection kept from before may have died (a server restart): one more try with a
        # fresh one. A fresh one that fails means the server is down, so no second wait.
        while True:
            fresh = self._connection is None
            try:
                if self._connection is None:
                    self._connection = psycopg.connect(self._conninfo, **CONNECT_OPTIONS)
                self._connection.execute("SELECT pg_notify(%s, %s)", (channel, message))
            except psycopg.Error as exc:
                self._drop_locked()
                if fresh:
                    return exc
                continue
            return None

    def _drop_locked(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def subscribe(self, topics: Sequence[str]) -> AbstractAsyncContextManager[Subscription]:
        checked = check_topics(topics)
        return opened(PostgresSubscription(conninfo=self._conninfo, topics=checked, bus_closed=self._closed))

    def close(self) -> None:
        """Close the publishing connection; open subscriptions end within about a second."""
        self._closed.set()
        with self._lock:
            self._drop_locked()


class PostgresSubscription(ReconnectingSubscription):
    """An autocommit connection LISTENing on the channels of some topics."""

    transport_errors = (psycopg.Error, OSError)
    transport_name = "postgresql"

    def __init__(self, *, conninfo: str, topics: frozenset[str], bus_closed: threading.Event) -> None:
        super().__init__(bus_closed=bus_closed)
        self._conninfo = conninfo
        self._topics = topics
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def _connect(self) -> None:
        connection = await psycopg.AsyncConnection.connect(self._conninfo, **CONNECT_OPTIONS)
        try:
            for channel in sorted({channel_for(topic) for topic in self._topics}):
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _receive(self, wait: float) -> list[Event]:
        assert self._connection is not None
        events: list[Event] = []
        # Read the generator to its end, never break out of it: one network read can bring
        # several notifications, and leaving early would drop the rest of that batch.
        async for notify in self._connection.notifies(timeout=wait, stop_after=1):
            event = self._event_from(notify.channel, notify.payload)
            if event is not None:
                events.append(event)
        return events

    def _event_from(self, channel: str, payload: str) -> Event | None:
        try:
            message = json.loads(payload)
        except ValueError:
            message = None
        topic = message.get("topic") if isinstance(message, dict) else None
        if not isinstance(topic, str) or topic not in self._topics or channel_for(topic) != channel:
            # Another topic sharing the channel, or someone else's notification.
            return None
        data = decode_payload(message.get("data"))
        if data is None:
            log.warning("ignored a malformed event notification", extra={"topic": topic})
            return None
        return Event(topic=topic, data=data)
