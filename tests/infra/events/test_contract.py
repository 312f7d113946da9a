"""The promises every event bus keeps, on each transport (in process, Redis, PostgreSQL).
Coroutines run on an event loop of their own via ``run_async``; publishers are other threads."""

from __future__ import annotations

import asyncio
import time

import pytest

from hushdesk.infra.events import Event, EventBus, SubscriptionClosed
from tests.infra.events.support import BusFactory, unique_topic
from tests.infra.outbound_servers import run_async

EVENT_DATA: dict[str, str | int | bool | None] = {
    "kind": "message",
    "seq": 12,
    "message_id": "m-1",
    "final": True,
    "state": None,
}


def test_a_subscriber_receives_the_exact_event_published_from_another_thread(bus: EventBus) -> None:
    topic = unique_topic("conversation")

    async def main() -> Event | None:
        async with bus.subscribe([topic]) as subscription:
            await asyncio.to_thread(bus.publish, topic, EVENT_DATA)
            return await subscription.next(2)

    assert run_async(main) == Event(topic=topic, data=EVENT_DATA)


def test_events_arrive_in_the_order_they_were_published(bus: EventBus) -> None:
    topic = unique_topic()

    async def main() -> list[Event | None]:
        async with bus.subscribe([topic]) as subscription:

            def publish_three() -> None:
                for seq in (1, 2, 3):
                    bus.publish(topic, {"seq": seq})

            await asyncio.to_thread(publish_three)
            return [await subscription.next(2) for _ in range(3)]

    assert run_async(main) == [Event(topic=topic, data={"seq": seq}) for seq in (1, 2, 3)]


def test_an_event_on_another_topic_is_not_received(bus: EventBus) -> None:
    wanted, other = unique_topic(), unique_topic()

    async def main() -> tuple[Event | None, Event | None]:
        async with bus.subscribe([wanted]) as subscription:
            await asyncio.to_thread(bus.publish, other, {"seq": 1})
            await asyncio.to_thread(bus.publish, wanted, {"seq": 2})
            return await subscription.next(2), await subscription.next(0.3)

    first, second = run_async(main)
    assert first == Event(topic=wanted, data={"seq": 2})
    assert second is None


def test_a_subscription_to_several_topics_receives_each(bus: EventBus) -> None:
    first, second = unique_topic(), unique_topic()

    async def main() -> set[str]:
        async with bus.subscribe([first, second]) as subscription:
            await asyncio.to_thread(bus.publish, first, {"n": 1})
            await asyncio.to_thread(bus.publish, second, {"n": 2})
            received = [await subscription.next(2), await subscription.next(2)]
        return {event.topic for event in received if event is not None}

    assert run_async(main) == {first, second}


def test_two_subscribers_both_receive(bus: EventBus) -> None:
    topic = unique_topic()

    async def main() -> tuple[Event | None, Event | None]:
        async with bus.subscribe([topic]) as one, bus.subscribe([topic]) as two:
            await asyncio.to_thread(bus.publish, topic, {"seq": 7})
            return await one.next(2), await two.next(2)

    expected = Event(topic=topic, data={"seq": 7})
    assert run_async(main) == (expected, expected)


def test_next_returns_none_when_the_timeout_passes_with_nothing(bus: EventBus) -> None:
    async def main() -> tuple[Event | None, float]:
        async with bus.subscribe([unique_topic()]) as subscription:
            started = time.monotonic()
            event = await subscription.next(0.3)
            return event, time.monotonic() - started

    event, elapsed = run_async(main)
    assert event is None
    assert 0.25 <= elapsed < 1.5


def test_a_closed_subscription_refuses_next_and_closes_again_quietly(bus: EventBus) -> None:
    topic = unique_topic()

    async def main() -> None:
        async with bus.subscribe([topic]) as subscription:
            pass
        await subscription.aclose()
        bus.publish(topic, {"seq": 1})  # nobody listens: not an error
        with pytest.raises(SubscriptionClosed):
            await subscription.next(0.1)

    run_async(main)


def test_closing_the_bus_ends_its_subscriptions_and_refuses_new_ones(bus: EventBus) -> None:
    topic = unique_topic()

    async def main() -> float:
        async with bus.subscribe([topic]) as subscription:
            asyncio.get_running_loop().call_later(0.1, bus.close)
            started = time.monotonic()
            with pytest.raises(SubscriptionClosed):
                await subscription.next(5)
            waited = time.monotonic() - started
        bus.publish(topic, {"seq": 1})  # dropped with a warning, never raised
        with pytest.raises(SubscriptionClosed):
            async with bus.subscribe([topic]):
                pass
        return waited

    assert run_async(main) < 2
    bus.close()  # idempotent


@pytest.mark.parametrize("topic", ["", "Upper", "1st", "with space", "ümlaut", "a" * 129, "a/b"])
def test_publish_and_subscribe_refuse_an_invalid_topic(bus: EventBus, topic: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        bus.publish(topic, {"seq": 1})
    with pytest.raises(ValueError, match="topic"):
        bus.subscribe([topic])


def test_publish_refuses_an_oversized_payload(bus: EventBus) -> None:
    with pytest.raises(ValueError, match="1000 bytes"):
        bus.publish(unique_topic(), {"padding": "x" * 1000})


def test_the_longest_valid_topic_is_delivered(bus: EventBus) -> None:
    topic = "t" + "x" * 127

    async def main() -> Event | None:
        async with bus.subscribe([topic]) as subscription:
            await asyncio.to_thread(bus.publish, topic, {"seq": 1})
            return await subscription.next(2)

    assert run_async(main) == Event(topic=topic, data={"seq": 1})


@pytest.mark.parametrize("transport", ["redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_event_published_by_another_process_is_received(
    request: pytest.FixtureRequest, make_bus: BusFactory, transport: str
) -> None:
    url: str = request.getfixturevalue(f"{transport}_url")
    listening, publishing = make_bus(url), make_bus(url)
    topic = unique_topic("inbox")

    async def main() -> Event | None:
        async with listening.subscribe([topic]) as subscription:
            await asyncio.to_thread(publishing.publish, topic, EVENT_DATA)
            return await subscription.next(2)

    assert run_async(main) == Event(topic=topic, data=EVENT_DATA)
