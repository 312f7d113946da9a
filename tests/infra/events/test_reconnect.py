"""Network transports survive a lost connection: the subscription reconnects by itself and
yields one resync event (what was published meanwhile is lost), then delivers again. The
connection runs through a relay on 127.0.0.1 that the test cuts, or makes refuse, at will."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import pytest

from hushdesk.infra.events import Event
from tests.infra.events.support import BusFactory, severable_relay, through_relay, unique_topic
from tests.infra.outbound_servers import run_async

RESYNC = Event(topic="", data={}, resync=True)
TRANSPORTS = ["redis", pytest.param("postgres", marks=pytest.mark.postgres)]


def _server(request: pytest.FixtureRequest, transport: str) -> tuple[str, int]:
    """The test server's URL and port for ``transport``."""
    url: str = request.getfixturevalue(f"{transport}_url")
    port = urlsplit(url).port
    assert port is not None
    return url, port


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_cut_connection_yields_one_resync_event_then_events_again(
    request: pytest.FixtureRequest, make_bus: BusFactory, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, port = _server(request, transport)
    topic = unique_topic()
    with severable_relay(port) as relay:
        listening = make_bus(through_relay(url, relay))
        publishing = make_bus(url)

        async def main() -> list[Event | None]:
            async with listening.subscribe([topic]) as subscription:
                relay.sever()
                await asyncio.to_thread(publishing.publish, topic, {"seq": 1})  # lost in the cut
                received = [await subscription.next(3)]
                await asyncio.to_thread(publishing.publish, topic, {"seq": 2})
                received.append(await subscription.next(2))
                return received

        with caplog.at_level(logging.WARNING, logger="hushdesk.infra.events"):
            received = run_async(main)
    assert received == [RESYNC, Event(topic=topic, data={"seq": 2})]
    assert any("lost its connection" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_while_the_server_is_away_next_times_out_then_resyncs_when_it_is_back(
    request: pytest.FixtureRequest, make_bus: BusFactory, transport: str
) -> None:
    url, port = _server(request, transport)
    topic = unique_topic()
    with severable_relay(port) as relay:
        listening = make_bus(through_relay(url, relay))
        publishing = make_bus(url)

        async def main() -> list[Event | None]:
            async with listening.subscribe([topic]) as subscription:
                relay.refusing.set()
                relay.sever()
                received = [await subscription.next(0.6)]
                relay.refusing.clear()
                received.append(await subscription.next(4))
                await asyncio.to_thread(publishing.publish, topic, {"seq": 3})
                received.append(await subscription.next(2))
                return received

        assert run_async(main) == [None, RESYNC, Event(topic=topic, data={"seq": 3})]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_subscribing_while_the_server_is_away_resyncs_once_it_is_back(
    request: pytest.FixtureRequest, make_bus: BusFactory, transport: str
) -> None:
    url, port = _server(request, transport)
    topic = unique_topic()
    with severable_relay(port) as relay:
        relay.refusing.set()
        listening = make_bus(through_relay(url, relay))

        async def main() -> Event | None:
            async with listening.subscribe([topic]) as subscription:
                relay.refusing.clear()
                return await subscription.next(3)

        assert run_async(main) == RESYNC
