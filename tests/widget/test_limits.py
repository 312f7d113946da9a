"""Rate limits of the widget: per visitor, per address and per agent, answered with 429,
Retry-After and nothing stored; the address is the peer's unless a trusted proxy said whose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hushdesk.conversations.models import Message
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.migrate import upgrade_to_head
from hushdesk.privacy.pii import NameLexicon
from tests.widget.conftest import SHOP, WidgetWorld, build_world, count_rows


def _assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture
def three_a_minute(sqlite_engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    yield from build_world(sqlite_engine, tmp_path, names=name_lexicon, widget_agent_messages_per_minute=3)


@pytest.fixture(scope="module")
def _proxied_world(
    tmp_path_factory: pytest.TempPathFactory, name_lexicon: NameLexicon
) -> Iterator[WidgetWorld]:
    root = tmp_path_factory.mktemp("behind-a-proxy")
    engine = create_db_engine(f"sqlite:///{root / 'var' / 'hushdesk.sqlite3'}")
    try:
        upgrade_to_head(engine)
        yield from build_world(engine, root, names=name_lexicon, trusted_proxies=["127.0.0.1"])
    finally:
        engine.dispose()


@pytest.fixture
def behind_a_proxy(_proxied_world: WidgetWorld) -> WidgetWorld:
    """A world whose settings trust a proxy at 127.0.0.1, with fresh rate-limit counters."""
    _proxied_world.app.state.rate_limiter.clear()
    return _proxied_world


def test_sixteenth_message_of_a_visitor_in_a_minute_is_refused(shared_widget: WidgetWorld) -> None:
    visitor = shared_widget.visitor().start()
    before = count_rows(shared_widget, Message)
    for number in range(15):
        assert visitor.say(f"message {number}").status_code == 202
    refused = visitor.say("one too many")
    _assert_rate_limited(refused)
    assert count_rows(shared_widget, Message) == before + 15
    # Another visitor from the same address is not held back by this one's limit.
    assert shared_widget.visitor().start().say("hello").status_code == 202


def test_sixty_first_message_from_one_address_in_a_minute_is_refused(shared_widget: WidgetWorld) -> None:
    visitors = [shared_widget.visitor().start() for _ in range(6)]
    before = count_rows(shared_widget, Message)
    for visitor in visitors[:5]:
        for number in range(12):
            assert visitor.say(f"message {number}").status_code == 202
    _assert_rate_limited(visitors[5].say("the sixty-first"))
    assert count_rows(shared_widget, Message) == before + 60


def test_agent_limit_holds_all_visitors_together(three_a_minute: WidgetWorld) -> None:
    visitors = [three_a_minute.visitor().start() for _ in range(4)]
    for visitor in visitors[:3]:
        assert visitor.say("hello").status_code == 202
    jobs = three_a_minute.pending_work()
    _assert_rate_limited(visitors[3].say("hello"))
    assert count_rows(three_a_minute, Message) == 3
    assert three_a_minute.pending_work() == jobs


def _client_at(world: WidgetWorld, address: str) -> TestClient:
    # Another client of the same running app, connecting from ``address``.
    return TestClient(world.app, base_url="http://testserver", client=(address, 40000))


def _open(client: TestClient, world: WidgetWorld, forwarded_for: str) -> int:
    response = client.post(
        "/widget/v1/sessions",
        json={"agent": world.widget_key},
        headers={"origin": SHOP, "x-forwarded-for": forwarded_for},
    )
    return response.status_code


def test_forwarded_for_from_an_untrusted_peer_is_ignored(behind_a_proxy: WidgetWorld) -> None:
    client = _client_at(behind_a_proxy, "203.0.113.9")
    # 30 sessions a minute per address: a new X-Forwarded-For on each does not reset it.
    statuses = [_open(client, behind_a_proxy, f"198.51.100.{n}") for n in range(31)]
    assert statuses == [200] * 30 + [429]


def test_forwarded_for_from_a_trusted_proxy_names_the_client(behind_a_proxy: WidgetWorld) -> None:
    proxy = _client_at(behind_a_proxy, "127.0.0.1")
    # Each visitor behind the proxy has an allowance of their own...
    assert [_open(proxy, behind_a_proxy, f"198.51.100.{n}") for n in range(31)] == [200] * 31
    # ...and one visitor is limited by their own address, not the proxy's.
    statuses = [_open(proxy, behind_a_proxy, "192.0.2.7") for _ in range(31)]
    assert statuses == [200] * 30 + [429]
