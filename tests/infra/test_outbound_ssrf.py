"""The SSRF guard end to end: through the client, the real socket layer and a real local server.

pytest-socket lets tests connect to loopback only, so a guard that failed open would hit a
``SocketConnectBlockedError`` here rather than ``OutboundBlockedError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import httpcore
import httpx
import pytest

from hushdesk.infra.http import (
    GuardedBackend,
    OutboundBlockedError,
    OutboundPolicy,
    build_http_client,
    parse_networks,
)
from hushdesk.infra.http.backend import SocketOption
from tests.infra.outbound_servers import REDIRECT_BODY, FakeResolver, RecordingHandler, local_server

LOOPBACK_ALLOWED = OutboundPolicy(allowed_networks=parse_networks(["127.0.0.1"]))


@pytest.fixture
def port() -> Iterator[int]:
    with local_server() as server_port:
        yield server_port


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",  # 127.0.0.1 in decimal
        "http://0x7f.1/",  # and in hex, with a short form
        "http://017700000001/",  # and in octal
        "http://127.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
    ],
)
def test_internal_destinations_are_refused_with_the_system_resolver(url: str) -> None:
    with build_http_client(OutboundPolicy(), version="test") as client, pytest.raises(OutboundBlockedError):
        client.get(url)


def test_decimal_loopback_is_named_as_loopback() -> None:
    with (
        build_http_client(OutboundPolicy(), version="test") as client,
        pytest.raises(OutboundBlockedError) as caught,
    ):
        client.get("http://2130706433/")
    assert "127.0.0.1, loopback" in str(caught.value)
    assert caught.value.host == "2130706433"


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = FakeResolver({"intranet.example": ["10.20.30.40"]})
    with (
        build_http_client(OutboundPolicy(), version="test", resolver=resolver) as client,
        pytest.raises(OutboundBlockedError, match=r"'intranet\.example'.*10\.20\.30\.40, private"),
    ):
        client.get("https://intranet.example/admin")
    assert resolver.calls == [("intranet.example", 443)]


def test_allowed_loopback_reaches_a_real_local_server(port: int) -> None:
    with build_http_client(LOOPBACK_ALLOWED, version="test") as client:
        response = client.get(f"http://127.0.0.1:{port}/ok")
    assert response.status_code == 200
    assert response.text == "hello /ok"


def test_the_same_request_is_refused_without_the_allow_list(port: int) -> None:
    with (
        build_http_client(OutboundPolicy(), version="test") as client,
        pytest.raises(OutboundBlockedError, match="loopback"),
    ):
        client.get(f"http://127.0.0.1:{port}/ok")


def test_a_name_is_resolved_once_per_connection_and_the_checked_answer_is_used(port: int) -> None:
    # The first answer is allowed, every later one is internal: a second resolution between
    # check and connect would send the request to 10.9.9.9 and fail.
    resolver = FakeResolver(successive=[["127.0.0.1"], ["10.9.9.9"]])
    with build_http_client(LOOPBACK_ALLOWED, version="test", resolver=resolver) as client:
        response = client.get(f"http://rebind.example:{port}/ok")
    assert response.text == "hello /ok"
    assert resolver.calls == [("rebind.example", port)]


def test_a_new_connection_checks_the_new_answer(port: int) -> None:
    resolver = FakeResolver(successive=[["127.0.0.1"], ["10.9.9.9"]])
    with build_http_client(LOOPBACK_ALLOWED, version="test", resolver=resolver) as client:
        assert (
            client.get(f"http://rebind.example:{port}/ok", headers={"Connection": "close"}).status_code == 200
        )
        with pytest.raises(OutboundBlockedError, match=r"10\.9\.9\.9"):
            client.get(f"http://rebind.example:{port}/ok")


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", "cloud metadata"),
        ("http://internal.example/", "private"),
        ("http://127.0.0.2/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ],
)
def test_a_redirect_to_a_refused_address_is_refused(port: int, target: str, reason: str) -> None:
    resolver = FakeResolver({"internal.example": ["192.168.0.10"]})
    with (
        build_http_client(LOOPBACK_ALLOWED, version="test", resolver=resolver) as client,
        pytest.raises(OutboundBlockedError, match=reason) as caught,
    ):
        client.get(f"http://127.0.0.1:{port}/redirect", params={"to": target})
    assert REDIRECT_BODY.decode() not in str(caught.value)


def test_a_redirect_to_an_allowed_address_is_followed(port: int) -> None:
    with build_http_client(LOOPBACK_ALLOWED, version="test") as client:
        response = client.get(f"http://127.0.0.1:{port}/redirect", params={"to": "/landed"})
    assert response.text == "hello /landed"
    assert [r.status_code for r in response.history] == [302]


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "dict://example.com:11211/"]
)
def test_schemes_other_than_http_are_refused(url: str) -> None:
    handled = RecordingHandler()
    transport = httpx.MockTransport(handled)
    with (
        build_http_client(OutboundPolicy(), version="test", transport=transport) as client,
        pytest.raises(OutboundBlockedError, match="scheme"),
    ):
        client.get(url)
    assert handled.requests == []


def test_credentials_in_the_url_are_refused() -> None:
    handled = RecordingHandler()
    transport = httpx.MockTransport(handled)
    with (
        build_http_client(OutboundPolicy(), version="test", transport=transport) as client,
        pytest.raises(OutboundBlockedError, match="credentials") as caught,
    ):
        client.get("https://user:hunter2@api.example.com/")
    assert "hunter2" not in str(caught.value)
    assert handled.requests == []


def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    with (
        build_http_client(OutboundPolicy(), version="test", resolver=FakeResolver()) as client,
        pytest.raises(httpx.ConnectError, match="could not resolve"),
    ):
        client.get("https://nowhere.example/")


class _RecordingBackend(httpcore.NetworkBackend):
    """Records where it was asked to connect; refuses the hosts in ``refuse``."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.connected: list[tuple[str, int]] = []
        self._refuse = set(refuse)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        if host in self._refuse:
            raise httpcore.ConnectError("connection refused")
        return httpcore.MockStream([])


def test_the_backend_connects_to_exactly_the_checked_address() -> None:
    # A rebinding resolver: public for the check, loopback for anyone who asks again.
    resolver = FakeResolver(successive=[["93.184.216.34"], ["127.0.0.1"]])
    inner = _RecordingBackend()
    backend = GuardedBackend(allowed_networks=(), resolver=resolver, inner=inner)
    backend.connect_tcp("rebind.example", 443, timeout=5)
    assert inner.connected == [("93.184.216.34", 443)]
    assert resolver.calls == [("rebind.example", 443)]


def test_the_backend_tries_the_next_checked_address() -> None:
    resolver = FakeResolver({"dual.example": ["2606:2800:220:1::248", "93.184.216.34"]})
    inner = _RecordingBackend(refuse={"2606:2800:220:1::248"})
    backend = GuardedBackend(allowed_networks=(), resolver=resolver, inner=inner)
    backend.connect_tcp("dual.example", 443, timeout=5)
    assert inner.connected == [("2606:2800:220:1::248", 443), ("93.184.216.34", 443)]


def test_the_backend_connects_nowhere_when_any_answer_is_refused() -> None:
    resolver = FakeResolver({"mixed.example": ["93.184.216.34", "169.254.169.254"]})
    inner = _RecordingBackend()
    backend = GuardedBackend(allowed_networks=(), resolver=resolver, inner=inner)
    with pytest.raises(OutboundBlockedError, match="cloud metadata"):
        backend.connect_tcp("mixed.example", 80, timeout=5)
    assert inner.connected == []


def test_the_backend_reports_when_no_checked_address_accepts() -> None:
    resolver = FakeResolver({"down.example": ["93.184.216.34"]})
    backend = GuardedBackend(
        allowed_networks=(), resolver=resolver, inner=_RecordingBackend(refuse={"93.184.216.34"})
    )
    with pytest.raises(httpcore.ConnectError, match=r"'down\.example' at 93\.184\.216\.34"):
        backend.connect_tcp("down.example", 80, timeout=5)
