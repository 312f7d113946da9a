"""The in-process event bus: for one server process (the embedded default).

Publishers may be any thread (a job worker, a request handler); each subscription belongs to the
event loop it was opened in and is woken there with ``loop.call_soon_threadsafe``. Each
subscription has a bounded queue: a subscriber that falls that far behind loses the queued
events and gets one resync event in their place, so a stalled stream cannot hold memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from hushdesk.infra.events.bus import (
    RESYNC,
    Event,
    Payload,
    Subscription,
    SubscriptionClosed,
    check_topic,
    check_topics,
    encode_payload,
)

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256


class InProcessSubscription:
    """One subscriber's queue. ``deliver`` may be called from any thread; ``next`` and
    ``aclose`` only from the event loop the subscription was opened in."""

    def __init__(
        self,
        *,
        bus: InProcessEventBus,
        topics: frozenset[str],
        loop: asyncio.AbstractEventLoop,
        capacity: int,
    ) -> None:
        self.topics = topics
        self._bus = bus
        self._loop = loop
        self._capacity = capacity
        # Guards the queue and the flags: publishers touch them from their own threads.
        self._lock = threading.Lock()
        self._queue: deque[Event] = deque()
        self._closed = False
        # Set (in the loop) when the queue may have something; ``_wake_scheduled`` keeps a
        # burst of publishes from flooding the loop with callbacks.
        self._wakeup = asyncio.Event()
        self._wake_scheduled = False

    def deliver(self, event: Event) -> None:
        """Queue ``event``; on overflow replace the whole queue with one resync event."""
        with self._lock:
            if self._closed:
                return
            if len(self._queue) >= self._capacity:
                # The event that did not fit goes too: the resync re-read covers it.
                self._queue.clear()
                self._queue.append(RESYNC)
            else:
                self._queue.append(event)
            loop_alive = self._wake_locked()
        if not loop_alive:
            # The subscriber's loop ended without closing the subscription: forget it.
            self._end()
            self._bus.forget(self)

    def _wake_locked(self) -> bool:
        if self._wake_scheduled:
            return True
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # the loop is closed
            return False
        self._wake_scheduled = True
        return True

    async def next(self, timeout: float) -> Event | None:  # noqa: ASYNC109 - the contract: None on expiry
        """The next queued event, or ``None`` after ``timeout`` seconds. Raises
        ``SubscriptionClosed`` once closed."""
        deadline = self._loop.time() + max(timeout, 0.0)
        while True:
            with self._lock:
                if self._queue:
                    return self._queue.popleft()
                if self._closed:
                    raise SubscriptionClosed("the subscription is closed")
                self._wake_scheduled = False
                self._wakeup.clear()
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                pass  # the loop checks the queue once more, then returns None

    def _end(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._wake_locked()

    def end_from_bus(self) -> None:
        """The bus closed: a waiting ``next`` wakes and raises ``SubscriptionClosed``."""
        self._end()

    async def aclose(self) -> None:
        self._end()
        self._bus.forget(self)


class InProcessEventBus:
    """Delivers events to the subscriptions of this process. Thread-safe."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        """``queue_size``: the events a subscription holds before it overflows (at least 1)."""
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        # Guards the subscriber sets and the closed flag; never held while delivering.
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[InProcessSubscription]] = {}
        self._closed = False

    def publish(self, topic: str, data: Payload) -> None:
        check_topic(topic)
        encode_payload(data)
        values = dict(data)
        with self._lock:
            if self._closed:
                log.warning("event bus is closed; event dropped", extra={"topic": topic})
                return
            targets = list(self._subscribers.get(topic, ()))
        for subscription in targets:
            # A copy each, so that no subscriber can change what another one sees.
            subscription.deliver(Event(topic=topic, data=dict(values)))

    def subscribe(self, topics: Sequence[str]) -> AbstractAsyncContextManager[Subscription]:
        return self._open(check_topics(topics))

    @asynccontextmanager
    async def _open(self, topics: frozenset[str]) -> AsyncIterator[Subscription]:
        subscription = InProcessSubscription(
            bus=self, topics=topics, loop=asyncio.get_running_loop(), capacity=self._queue_size
        )
        with self._lock:
            if self._closed:
                raise SubscriptionClosed("the event bus is closed")
            for topic in topics:
                self._subscribers.setdefault(topic, set()).add(subscription)
        try:
            yield subscription
        finally:
            await subscription.aclose()

    def forget(self, subscription: InProcessSubscription) -> None:
        """Stop delivering to ``subscription``. Idempotent."""
        with self._lock:
            for topic in subscription.topics:
                subscribers = self._subscribers.get(topic)
                if subscribers is None:
                    continue
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[topic]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            open_subscriptions = {item for group in self._subscribers.values() for item in group}
            self._subscribers.clear()
        for subscription in open_subscriptions:
            subscription.end_from_bus()
