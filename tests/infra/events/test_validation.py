"""Topic and payload limits, and the choice of transport by URL."""

from __future__ import annotations

import pytest

from hushdesk.infra.events import (
    MAX_PAYLOAD_BYTES,
    InProcessEventBus,
    PostgresEventBus,
    RedisEventBus,
    build_event_bus,
)
from hushdesk.infra.events.bus import Payload, check_topics, encode_payload

VALID_TOPICS = ["a", "conversation.0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "inbox:ws_1-x", "a" * 128]


@pytest.mark.parametrize("topic", VALID_TOPICS)
def test_valid_topics_are_accepted(topic: str) -> None:
    assert check_topics([topic]) == {topic}


def test_subscribing_needs_a_list_of_topics_not_one_string() -> None:
    with pytest.raises(ValueError, match="not one string"):
        check_topics("conversation.x")


def test_subscribing_needs_at_least_one_topic() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        check_topics([])


def test_repeated_topics_count_once() -> None:
    assert check_topics(["a", "a", "b"]) == {"a", "b"}


def test_payload_values_may_be_str_int_bool_or_none() -> None:
    payload: Payload = {"s": "x", "i": -3, "b": False, "n": None}
    assert encode_payload(payload) == '{"s":"x","i":-3,"b":false,"n":null}'


@pytest.mark.parametrize(
    "payload",
    [
        {"ratio": 0.5},
        {"nested": {"a": 1}},
        {"list": [1, 2]},
        {1: "key is not a string"},
        ["not", "a", "mapping"],
    ],
)
def test_other_payloads_are_refused(payload: object) -> None:
    with pytest.raises(ValueError, match="payload"):
        encode_payload(payload)  # type: ignore[arg-type]


def test_a_payload_of_exactly_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    overhead = len('{"p":""}')
    assert len(encode_payload({"p": "x" * (MAX_PAYLOAD_BYTES - overhead)})) == MAX_PAYLOAD_BYTES
    with pytest.raises(ValueError, match="1000 bytes"):
        encode_payload({"p": "x" * (MAX_PAYLOAD_BYTES - overhead + 1)})


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    # 400 two-byte characters: 800 bytes in 400 characters, so 600 would be over.
    encode_payload({"p": "é" * 400})
    with pytest.raises(ValueError, match="1000 bytes"):
        encode_payload({"p": "é" * 600})


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory://", InProcessEventBus),
        ("redis://127.0.0.1:6379/0", RedisEventBus),
        ("rediss://127.0.0.1:6380/0", RedisEventBus),
        ("postgresql://postgres@127.0.0.1:5432/test", PostgresEventBus),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", PostgresEventBus),
    ],
)
def test_the_url_scheme_picks_the_transport_without_connecting(url: str, kind: type) -> None:
    bus = build_event_bus(url)
    try:
        assert isinstance(bus, kind)
    finally:
        bus.close()


@pytest.mark.parametrize("url", ["amqp://127.0.0.1/", "sqlite:///events.db", "", "postgres://127.0.0.1/x"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="memory://"):
        build_event_bus(url)
