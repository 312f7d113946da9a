"""The pieces of error mapping that no wire test reaches on its own."""

from __future__ import annotations

import httpx
import httpx2
import pytest

from hushdesk.agents.providers.errors import ProviderRequestRejected, ProviderTimeout, ProviderUnavailable
from hushdesk.agents.providers.errors_mapping import (
    map_anthropic_error,
    map_openai_error,
    retry_after_seconds,
)
from hushdesk.infra.db.uow import TransactionOpenError
from hushdesk.infra.http.errors import OutboundBlockedError

NOW = 1_780_000_000.0  # a fixed clock for HTTP dates


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "9"}, 9.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after-ms": "inf"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers_are_parsed(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers), now=NOW) == expected


def test_an_http_date_in_the_future_counts_from_now() -> None:
    when = httpx.Headers({"retry-after": "Wed, 28 May 2026 08:26:50 GMT"})
    assert retry_after_seconds(when, now=1_779_956_800.0) == pytest.approx(10.0)


def test_a_transaction_error_in_the_chain_is_raised_as_it_is() -> None:
    cause = TransactionOpenError("inside a unit of work")
    wrapper = RuntimeError("wrapped")
    wrapper.__cause__ = cause
    with pytest.raises(TransactionOpenError):
        map_anthropic_error(wrapper)
    with pytest.raises(TransactionOpenError):
        map_openai_error(cause, provider="OpenAI")


def test_a_guard_refusal_deep_in_the_context_chain_is_found() -> None:
    blocked = OutboundBlockedError("outbound request to 'x.example' refused: loopback", host="x.example")
    outer = ValueError("outer")
    middle = KeyError("middle")
    middle.__context__ = blocked
    outer.__context__ = middle
    error = map_openai_error(outer, provider="OpenAI")
    assert isinstance(error, ProviderRequestRejected)
    assert "x.example" in str(error)


def test_a_cyclic_chain_does_not_loop() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert isinstance(map_anthropic_error(first), ProviderUnavailable)


def test_raw_transport_errors_of_either_httpx_are_mapped() -> None:
    assert isinstance(map_anthropic_error(httpx2.ReadTimeout("slow")), ProviderTimeout)
    assert isinstance(map_anthropic_error(httpx2.ReadError("reset")), ProviderUnavailable)
    assert isinstance(map_openai_error(httpx.ReadTimeout("slow"), provider="OpenAI"), ProviderTimeout)
