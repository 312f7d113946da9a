"""Rate limits on both storages: in memory, and in the real Redis at 127.0.0.1:6379 (shared
by every process in production). An unreachable storage refuses rather than lets through."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from hushdesk.infra.ratelimit import RateLimiter, RateRule


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield RateLimiter.in_memory()
        return
    redis_limiter = RateLimiter.from_url(request.getfixturevalue("redis_url"))
    yield redis_limiter
    redis_limiter.clear()


def _rule(limit: str) -> RateRule:
    # A name of its own per test, so that runs never share counters.
    return RateRule(f"test-{uuid.uuid4().hex[:8]}", limit)


def test_hits_are_allowed_up_to_the_limit_then_refused_with_a_wait(limiter: RateLimiter) -> None:
    rule = _rule("3/minute")
    decisions = [limiter.hit(rule, "203.0.113.9") for _ in range(4)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    assert 1 <= decisions[-1].retry_after <= 60
    assert decisions[0].retry_after == 0


def test_each_identifier_has_its_own_allowance(limiter: RateLimiter) -> None:
    rule = _rule("1/minute")
    assert limiter.hit(rule, "a").allowed
    assert not limiter.hit(rule, "a").allowed
    assert limiter.hit(rule, "b").allowed


def test_refused_hits_are_not_counted(limiter: RateLimiter) -> None:
    rule = _rule("2/second")
    assert limiter.hit(rule, "k").allowed
    assert limiter.hit(rule, "k").allowed
    for _ in range(5):
        assert not limiter.hit(rule, "k").allowed


def test_an_unreachable_storage_refuses() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = RateLimiter.from_url(f"redis://127.0.0.1:{port}/0")
    decision = unreachable.hit(_rule("100/minute"), "anyone")
    assert not decision.allowed
    assert decision.retry_after >= 1


def test_only_known_storages_are_accepted() -> None:
    with pytest.raises(ValueError, match="memory://, redis://"):
        RateLimiter.from_url("mongodb://127.0.0.1/limits")
