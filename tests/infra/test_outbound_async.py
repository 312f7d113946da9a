"""The asynchronous client keeps the synchronous one's promises (coroutines run via ``run_async``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from hushdesk.infra.http import (
    OutboundBlockedError,
    OutboundPolicy,
    ResponseTooLargeError,
    aread_limited,
    build_async_http_client,
    parse_networks,
)
from tests.infra.outbound_servers import FakeResolver, RecordingHandler, local_server, run_async

LOOPBACK_ALLOWED = OutboundPolicy(allowed_networks=parse_networks(["127.0.0.1"]))


@pytest.fixture
def port() -> Iterator[int]:
    with local_server() as server_port:
        yield server_port


async def _get(policy: OutboundPolicy, url: str, resolver: FakeResolver | None = None) -> httpx.Response:
    if resolver is None:
        client = build_async_http_client(policy, version="t")
    else:
        client = build_async_http_client(policy, version="t", resolver=resolver)
    async with client:
        return await client.get(url)


def test_allowed_loopback_reaches_a_real_local_server(port: int) -> None:
    response = run_async(lambda: _get(LOOPBACK_ALLOWED, f"http://127.0.0.1:{port}/ok"))
    assert response.text == "hello /ok"


def test_loopback_is_refused_without_the_allow_list(port: int) -> None:
    with pytest.raises(OutboundBlockedError, match="loopback"):
        run_async(lambda: _get(OutboundPolicy(), f"http://127.0.0.1:{port}/ok"))


def test_decimal_loopback_is_refused() -> None:
    with pytest.raises(OutboundBlockedError, match=r"127\.0\.0\.1, loopback"):
        run_async(lambda: _get(OutboundPolicy(), "http://2130706433/"))


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = FakeResolver({"intranet.example": ["172.16.5.4"]})
    with pytest.raises(OutboundBlockedError, match="private"):
        run_async(lambda: _get(OutboundPolicy(), "https://intranet.example/", resolver))


def test_the_checked_answer_is_the_one_connected_to(port: int) -> None:
    resolver = FakeResolver(successive=[["127.0.0.1"], ["10.9.9.9"]])
    response = run_async(lambda: _get(LOOPBACK_ALLOWED, f"http://rebind.example:{port}/ok", resolver))
    assert response.text == "hello /ok"
    assert resolver.calls == [("rebind.example", port)]


def test_a_redirect_to_cloud_metadata_is_refused(port: int) -> None:
    url = f"http://127.0.0.1:{port}/redirect?to=http://169.254.169.254/latest/meta-data/"
    with pytest.raises(OutboundBlockedError, match="cloud metadata"):
        run_async(lambda: _get(LOOPBACK_ALLOWED, url))


def test_schemes_other_than_http_are_refused() -> None:
    handler = RecordingHandler()

    async def call() -> None:
        async with build_async_http_client(
            OutboundPolicy(), version="t", transport=httpx.MockTransport(handler)
        ) as client:
            await client.get("ftp://example.com/")

    with pytest.raises(OutboundBlockedError, match="scheme"):
        run_async(call)
    assert handler.requests == []


def test_only_an_in_memory_transport_may_replace_the_network() -> None:
    insecure = httpx.AsyncHTTPTransport(verify=False)
    with pytest.raises(TypeError, match="MockTransport"):
        build_async_http_client(OutboundPolicy(), version="t", transport=insecure)  # type: ignore[arg-type]
    run_async(insecure.aclose)


async def _chunks() -> AsyncIterator[bytes]:
    for _ in range(2):
        yield b"a" * 60


def test_a_body_over_the_limit_is_refused() -> None:
    async def call() -> bytes:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=_chunks()))
        async with (
            build_async_http_client(OutboundPolicy(), version="t", transport=transport) as client,
            client.stream("GET", "https://api.example.com/") as response,
        ):
            return await aread_limited(response, max_bytes=100)

    with pytest.raises(ResponseTooLargeError, match="larger than 100 bytes"):
        run_async(call)
