"""The in-process bus: bounded queues that overflow into one resync event, and delivery into
the subscriber's event loop from many threads at once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hushdesk.infra.events import Event, InProcessEventBus
from tests.infra.events.support import unique_topic
from tests.infra.outbound_servers import run_async

RESYNC = Event(topic="", data={}, resync=True)


def test_an_overflowing_queue_yields_one_resync_event_then_later_events() -> None:
    bus = InProcessEventBus(queue_size=3)
    topic = unique_topic()

    async def main() -> list[Event | None]:
        async with bus.subscribe([topic]) as subscription:
            for seq in range(4):  # one more than the queue holds
                bus.publish(topic, {"seq": seq})
            received = [await subscription.next(1), await subscription.next(0.1)]
            bus.publish(topic, {"seq": 99})
            received.append(await subscription.next(1))
            return received

    assert run_async(main) == [RESYNC, None, Event(topic=topic, data={"seq": 99})]


def test_a_full_queue_is_delivered_whole() -> None:
    bus = InProcessEventBus(queue_size=3)
    topic = unique_topic()

    async def main() -> list[Event | None]:
        async with bus.subscribe([topic]) as subscription:
            for seq in range(3):
                bus.publish(topic, {"seq": seq})
            return [await subscription.next(1) for _ in range(3)]

    assert run_async(main) == [Event(topic=topic, data={"seq": seq}) for seq in range(3)]


def test_only_the_slow_subscriber_overflows() -> None:
    bus = InProcessEventBus(queue_size=2)
    topic = unique_topic()

    async def main() -> tuple[list[Event | None], Event | None]:
        async with bus.subscribe([topic]) as fast, bus.subscribe([topic]) as slow:
            seen = []
            for seq in range(3):
                bus.publish(topic, {"seq": seq})
                seen.append(await fast.next(1))
            return seen, await slow.next(1)

    seen, slow_first = run_async(main)
    assert seen == [Event(topic=topic, data={"seq": seq}) for seq in range(3)]
    assert slow_first == RESYNC


def test_publishes_from_many_threads_all_arrive() -> None:
    bus = InProcessEventBus()
    topic = unique_topic()
    threads, per_thread = 8, 25

    async def main() -> set[tuple[object, object]]:
        async with bus.subscribe([topic]) as subscription:

            def publish_many(worker: int) -> None:
                for seq in range(per_thread):
                    bus.publish(topic, {"worker": worker, "seq": seq})

            workers = [threading.Thread(target=publish_many, args=(n,)) for n in range(threads)]
            for worker in workers:
                worker.start()

            def join_all() -> None:
                for worker in workers:
                    worker.join()

            await asyncio.to_thread(join_all)
            received: set[tuple[object, object]] = set()
            while (event := await subscription.next(0.2)) is not None:
                received.add((event.data["worker"], event.data["seq"]))
            return received

    assert run_async(main) == {(w, s) for w in range(threads) for s in range(per_thread)}


def test_each_subscriber_gets_its_own_copy_of_the_payload() -> None:
    bus = InProcessEventBus()
    topic = unique_topic()

    async def main() -> Event | None:
        async with bus.subscribe([topic]) as one, bus.subscribe([topic]) as two:
            bus.publish(topic, {"seq": 1})
            first = await one.next(1)
            assert first is not None
            first.data["seq"] = 2
            return await two.next(1)

    assert run_async(main) == Event(topic=topic, data={"seq": 1})


def test_a_subscription_whose_loop_ended_without_closing_it_is_forgotten() -> None:
    bus = InProcessEventBus()
    topic = unique_topic()
    context = bus.subscribe([topic])

    def enter_then_end_the_loop() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(context.__aenter__())
        loop.close()  # as a crashed loop would: the subscription is never exited

    worker = threading.Thread(target=enter_then_end_the_loop)
    worker.start()
    worker.join()
    assert topic in bus._subscribers
    bus.publish(topic, {"seq": 1})  # the closed loop refuses the wake-up: not an error
    assert topic not in bus._subscribers
    run_async(lambda: context.__aexit__(None, None, None))  # finish the abandoned context


def test_the_queue_holds_at_least_one_event() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InProcessEventBus(queue_size=0)
