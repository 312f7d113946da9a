"""The PostgreSQL transport: channel names within PostgreSQL's limits, exact topic filtering on
a channel, SQLAlchemy-style URLs, and a server that is down."""

from __future__ import annotations

import asyncio
import logging
import re

import psycopg
import pytest

from hushdesk.infra.events import Event, PostgresEventBus
from hushdesk.infra.events.postgres import channel_for, psycopg_conninfo
from tests.infra.events.support import BusFactory, unique_topic
from tests.infra.outbound_servers import run_async

MARKER = "payload-marker-81ad"


def test_every_topic_maps_to_a_short_valid_channel() -> None:
    longest = "t" + "x" * 127
    channels = {channel_for(topic) for topic in ("a", "a.b", longest, "b" + "x" * 127)}
    assert len(channels) == 4
    for channel in channels:
        assert re.fullmatch(r"hd_[0-9a-f]{40}", channel)
        assert len(channel.encode()) <= 63
    assert channel_for(longest) == channel_for(longest)


def test_the_sqlalchemy_driver_suffix_is_dropped() -> None:
    assert psycopg_conninfo("postgresql+psycopg://u@h:5432/d") == "postgresql://u@h:5432/d"
    assert psycopg_conninfo("postgresql://u@h:5432/d") == "postgresql://u@h:5432/d"


def test_publishing_to_an_unreachable_server_logs_a_warning_without_the_payload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = PostgresEventBus("postgresql://postgres@127.0.0.1:1/test")
    try:
        with caplog.at_level(logging.WARNING, logger="hushdesk.infra.events"):
            bus.publish(unique_topic(), {"note": MARKER})
    finally:
        bus.close()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert [record.getMessage() for record in warnings] == ["event not published: PostgreSQL is unavailable"]
    assert MARKER not in repr(vars(warnings[0]))


@pytest.mark.postgres
def test_a_sqlalchemy_style_url_publishes_and_listens(postgres_url: str, make_bus: BusFactory) -> None:
    bus = make_bus(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    topic = unique_topic()

    async def main() -> Event | None:
        async with bus.subscribe([topic]) as subscription:
            await asyncio.to_thread(bus.publish, topic, {"seq": 1})
            return await subscription.next(2)

    assert run_async(main) == Event(topic=topic, data={"seq": 1})


@pytest.mark.postgres
def test_only_notifications_for_the_exact_topic_are_events(
    postgres_url: str, make_bus: BusFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bus = make_bus(postgres_url)
    topic = unique_topic()
    channel = channel_for(topic)
    # What another program (or another topic with the same channel) could send on our channel.
    foreign = [
        f'{{"topic":"{unique_topic()}","data":{{"seq":1}}}}',
        "not json",
        '{"data":{"seq":1}}',
        f'{{"topic":"{topic}","data":{{"nested":{{}}}}}}',
    ]

    async def main() -> tuple[Event | None, Event | None]:
        async with bus.subscribe([topic]) as subscription:
            with psycopg.connect(postgres_url, autocommit=True) as other:
                for payload in foreign:
                    other.execute("SELECT pg_notify(%s, %s)", (channel, payload))
            await asyncio.to_thread(bus.publish, topic, {"seq": 2})
            return await subscription.next(2), await subscription.next(0.3)

    with caplog.at_level(logging.WARNING, logger="hushdesk.infra.events"):
        assert run_async(main) == (Event(topic=topic, data={"seq": 2}), None)
    # Only the one carrying our topic with a bad payload is worth a warning.
    assert [record.getMessage() for record in caplog.records] == ["ignored a malformed event notification"]


@pytest.mark.postgres
def test_a_listener_whose_session_the_server_ended_resyncs(postgres_url: str, make_bus: BusFactory) -> None:
    bus = make_bus(postgres_url)
    topic = unique_topic()
    listen = f'LISTEN "{channel_for(topic)}"'

    async def main() -> list[Event | None]:
        async with bus.subscribe([topic]) as subscription:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s", (listen,)
                ).fetchall()
            assert ended == [(True,)]
            received = [await subscription.next(3)]
            await asyncio.to_thread(bus.publish, topic, {"seq": 4})
            received.append(await subscription.next(2))
            return received

    assert run_async(main) == [Event(topic="", data={}, resync=True), Event(topic=topic, data={"seq": 4})]


@pytest.mark.postgres
def test_a_publishing_connection_the_server_ended_is_replaced(
    postgres_url: str, make_bus: BusFactory
) -> None:
    bus = make_bus(postgres_url)
    topic = unique_topic()

    async def main() -> Event | None:
        async with bus.subscribe([topic]) as subscription:
            await asyncio.to_thread(bus.publish, topic, {"seq": 1})
            assert await subscription.next(2) == Event(topic=topic, data={"seq": 1})
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE %s",
                    ("SELECT pg_notify(%",),
                ).fetchall()
            assert ended == [(True,)]
            await asyncio.to_thread(bus.publish, topic, {"seq": 2})
            return await subscription.next(2)

    assert run_async(main) == Event(topic=topic, data={"seq": 2})
