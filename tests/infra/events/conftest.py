"""Event buses on every transport: in process, the real Redis at 127.0.0.1:6379 and the real
PostgreSQL at 127.0.0.1:5432 (each skipped with the reason when down, except under CI=true;
``redis_url`` and ``postgres_url`` are the suite's own fixtures, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hushdesk.infra.events import EventBus, build_event_bus
from tests.infra.events.support import BusFactory


@pytest.fixture
def make_bus() -> Iterator[BusFactory]:
    """Builds buses (each one like another server process) and closes them after the test."""
    buses: list[EventBus] = []

    def make(url: str) -> EventBus:
        bus = build_event_bus(url)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close()


@pytest.fixture(params=["memory", "redis", pytest.param("postgres", marks=pytest.mark.postgres)])
def bus_url(request: pytest.FixtureRequest) -> str:
    """The URL of each transport in turn."""
    if request.param == "memory":
        return "memory://"
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    postgres_url: str = request.getfixturevalue("postgres_url")
    return postgres_url


@pytest.fixture
def bus(bus_url: str, make_bus: BusFactory) -> EventBus:
    return make_bus(bus_url)
