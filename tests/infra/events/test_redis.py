"""The Redis transport: its channels, what it ignores, and a Redis that is down."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
import redis

from hushdesk.infra.events import Event, RedisEventBus
from tests.infra.events.support import BusFactory, unique_topic
from tests.infra.outbound_servers import run_async

MARKER = "payload-marker-3f9c"


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("port", [1, _unused_port()])
def test_publishing_to_an_unreachable_redis_logs_a_warning_without_the_payload(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RedisEventBus(f"redis://127.0.0.1:{port}/0")
    try:
        with caplog.at_level(logging.WARNING, logger="hushdesk.infra.events"):
            bus.publish(unique_topic(), {"note": MARKER})
    finally:
        bus.close()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [record.getMessage() for record in warnings] == ["event not published: Redis is unavailable"]
    assert MARKER not in repr(vars(warnings[0]))


def test_events_travel_on_prefixed_channels(redis_url: str, make_bus: BusFactory) -> None:
    bus = make_bus(redis_url)
    topic = unique_topic()
    client = redis.Redis.from_url(redis_url, socket_timeout=2)

    async def main() -> tuple[Event | None, Event | None]:
        async with bus.subscribe([topic]) as subscription:
            # A program sharing the Redis that publishes on the bare name is not heard...
            await asyncio.to_thread(client.publish, topic, '{"seq":1}')
            # ...and one that publishes on the bus's channel is.
            await asyncio.to_thread(client.publish, f"hushdesk:{topic}", '{"seq":2}')
            return await subscription.next(2), await subscription.next(0.3)

    try:
        assert run_async(main) == (Event(topic=topic, data={"seq": 2}), None)
    finally:
        client.close()


@pytest.mark.parametrize("message", [b"not json", b"\xff\xfe", b'["a"]', b'{"nested":{"a":1}}', b'{"f":1.5}'])
def test_a_malformed_message_on_the_channel_is_skipped(
    redis_url: str, make_bus: BusFactory, message: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    bus = make_bus(redis_url)
    topic = unique_topic()
    client = redis.Redis.from_url(redis_url, socket_timeout=2)

    async def main() -> Event | None:
        async with bus.subscribe([topic]) as subscription:
            await asyncio.to_thread(client.publish, f"hushdesk:{topic}", message)
            await asyncio.to_thread(bus.publish, topic, {"seq": 5})
            return await subscription.next(2)

    try:
        with caplog.at_level(logging.WARNING, logger="hushdesk.infra.events"):
            assert run_async(main) == Event(topic=topic, data={"seq": 5})
    finally:
        client.close()
    assert [record.getMessage() for record in caplog.records] == ["ignored a malformed event message"]
