"""Live updates across server processes: small JSON hints published after a commit, awaited by
the handlers that stream them to browsers.

``build_event_bus(url)`` picks the transport: in process (``memory://``), Redis pub/sub, or
PostgreSQL LISTEN/NOTIFY. Events are hints, never data: a subscriber re-reads the database,
and a subscription that lost events yields ``Event(topic="", data={}, resync=True)`` first.
"""

from hushdesk.infra.events.bus import (
    MAX_PAYLOAD_BYTES,
    Event,
    EventBus,
    Payload,
    Subscription,
    SubscriptionClosed,
    build_event_bus,
)
from hushdesk.infra.events.memory import InProcessEventBus
from hushdesk.infra.events.postgres import PostgresEventBus
from hushdesk.infra.events.redis_bus import RedisEventBus

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Event",
    "EventBus",
    "InProcessEventBus",
    "Payload",
    "PostgresEventBus",
    "RedisEventBus",
    "Subscription",
    "SubscriptionClosed",
    "build_event_bus",
]
