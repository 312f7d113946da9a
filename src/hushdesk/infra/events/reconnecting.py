"""A subscription over a network connection that comes back after it drops.

Shared by the Redis and PostgreSQL transports, which supply how to connect, disconnect and wait
for messages. Reconnecting happens inside ``next`` (no background task): while the server is
away ``next`` keeps trying, with a growing pause between attempts, and returns ``None`` at its
timeout as usual; once a new connection is subscribed it returns one resync event, because
whatever was published in between is lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hushdesk.infra.events.bus import RESYNC, Event, SubscriptionClosed

log = logging.getLogger(__name__)

# How often a waiting ``next`` looks up from the connection to notice that the bus was closed.
CLOSE_CHECK_INTERVAL = 1.0
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 5.0


class ReconnectingSubscription(ABC):
    """Drives a transport's connection for one subscriber. Not thread-safe: one event loop,
    one task calling ``next`` at a time."""

    # The errors that mean "the connection is gone" for this transport.
    transport_errors: tuple[type[BaseException], ...]
    transport_name: str

    def __init__(self, *, bus_closed: threading.Event) -> None:
        self._bus_closed = bus_closed
        self._closed = False
        self._connected = False
        # Events already received but not yet handed out (a read may bring several).
        self._pending: deque[Event] = deque()
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY_DELAY

    @abstractmethod
    async def _connect(self) -> None:
        """Open a connection and subscribe; returns once the server has confirmed, so that an
        event published afterwards is delivered. Raises one of ``transport_errors``."""

    @abstractmethod
    async def _disconnect(self) -> None:
        """Release the connection, whatever state it is in. Never raises a transport error."""

    @abstractmethod
    async def _receive(self, wait: float) -> list[Event]:
        """Wait up to ``wait`` seconds for messages; the events among them (possibly none).
        Raises one of ``transport_errors`` when the connection is lost."""

    async def open(self) -> None:
        """Connect for the first time. A server that is away is not an error: ``next`` keeps
        trying and yields a resync event once it is back."""
        if self._bus_closed.is_set():
            raise SubscriptionClosed("the event bus is closed")
        await self._attempt_connect()

    async def next(self, timeout: float) -> Event | None:  # noqa: ASYNC109 - the contract: None on expiry
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._closed or self._bus_closed.is_set():
                raise SubscriptionClosed("the subscription is closed")
            if self._pending:
                return self._pending.popleft()
            wait = max(0.0, min(deadline - time.monotonic(), CLOSE_CHECK_INTERVAL))
            if self._connected:
                try:
                    self._pending.extend(await self._receive(wait))
                except self.transport_errors as exc:
                    log.warning(
                        "event subscription lost its connection; reconnecting",
                        extra={"transport": self.transport_name, "error": type(exc).__name__},
                    )
                    await self._drop()
                    continue  # the first attempt to reconnect is immediate
            elif time.monotonic() >= self._retry_at:
                if await self._attempt_connect():
                    log.info("event subscription reconnected", extra={"transport": self.transport_name})
                    return RESYNC
            else:
                await asyncio.sleep(max(0.0, min(wait, self._retry_at - time.monotonic())))
            if not self._pending and time.monotonic() >= deadline:
                return None

    async def aclose(self) -> None:
        """Stop, and release the connection. Idempotent."""
        self._closed = True
        if self._connected:
            await self._drop()

    async def _attempt_connect(self) -> bool:
        try:
            await self._connect()
        except self.transport_errors as exc:
            log.warning(
                "event subscription cannot connect; will retry",
                extra={"transport": self.transport_name, "error": type(exc).__name__},
            )
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, MAX_RETRY_DELAY)
            return False
        self._connected = True
        self._retry_delay = FIRST_RETRY_DELAY
        return True

    async def _drop(self) -> None:
        self._connected = False
        self._retry_at = time.monotonic()
        await self._disconnect()


@asynccontextmanager
async def opened(subscription: ReconnectingSubscription) -> AsyncIterator[ReconnectingSubscription]:
    """``subscription`` opened for the block and closed after it, however the block ends."""
    await subscription.open()
    try:
        yield subscription
    finally:
        await subscription.aclose()
