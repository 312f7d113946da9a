"""What every client from the factory does: identity, timeouts, redirects, TLS, body limits."""

from __future__ import annotations

import dataclasses
import inspect
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from hushdesk.infra.http import (
    OutboundPolicy,
    ResponseTooLargeError,
    build_async_http_client,
    build_http_client,
    outbound_ssl_context,
    parse_networks,
    read_limited,
)
from tests.infra.outbound_servers import FakeResolver, RecordingHandler, local_server

LOCALHOST_RESOLVER = FakeResolver({"localhost": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
LOOPBACK = parse_networks(["127.0.0.0/8"])


def test_requests_carry_the_product_user_agent() -> None:
    handler = RecordingHandler()
    with build_http_client(
        OutboundPolicy(), version="9.9.9", transport=httpx.MockTransport(handler)
    ) as client:
        client.get("https://api.example.com/")
    assert handler.requests[0].headers["user-agent"] == "Hushdesk/9.9.9"


def test_every_request_has_the_policy_timeouts() -> None:
    handler = RecordingHandler()
    policy = OutboundPolicy(connect_timeout=1.5, read_timeout=12, write_timeout=7, pool_timeout=2)
    with build_http_client(policy, version="t", transport=httpx.MockTransport(handler)) as client:
        client.get("https://api.example.com/")
    assert handler.requests[0].extensions["timeout"] == {"connect": 1.5, "read": 12, "write": 7, "pool": 2}


def test_proxies_from_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # With trust_env the https request would go to this proxy (nothing listens there) instead.
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    handler = RecordingHandler()
    with build_http_client(OutboundPolicy(), version="t", transport=httpx.MockTransport(handler)) as client:
        assert client.get("https://api.example.com/").text == "ok"
    assert len(handler.requests) == 1


def test_redirects_are_bounded() -> None:
    hops: list[httpx.Request] = []

    def loop(request: httpx.Request) -> httpx.Response:
        hops.append(request)
        return httpx.Response(302, headers={"Location": f"/hop{len(hops)}"})

    policy = OutboundPolicy(max_redirects=2)
    with (
        build_http_client(policy, version="t", transport=httpx.MockTransport(loop)) as client,
        pytest.raises(httpx.TooManyRedirects),
    ):
        client.get("https://api.example.com/")
    assert len(hops) == 3


@pytest.mark.parametrize(
    "bad",
    [{"max_redirects": -1}, {"connect_timeout": 0}, {"read_timeout": -1}, {"pool_timeout": 0}],
)
def test_a_policy_without_limits_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        OutboundPolicy(**bad)  # type: ignore[arg-type]


def test_only_an_in_memory_transport_may_replace_the_network() -> None:
    with httpx.HTTPTransport(verify=False) as insecure, pytest.raises(TypeError, match="MockTransport"):
        build_http_client(OutboundPolicy(), version="t", transport=insecure)  # type: ignore[arg-type]


def test_there_is_no_switch_for_certificate_verification() -> None:
    names = {field.name for field in dataclasses.fields(OutboundPolicy)}
    names |= set(inspect.signature(build_http_client).parameters)
    names |= set(inspect.signature(build_async_http_client).parameters)
    assert not names & {"verify", "ssl_context", "cert", "proxy", "trust_env", "mounts"}


def test_the_tls_context_always_verifies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "keys.log"))
    context = outbound_ssl_context(OutboundPolicy())
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert not context.keylog_filename  # SSLKEYLOGFILE would write session keys to disk
    assert all(c["protocol"] == "TLSv1.3" or "ECDHE" in c["name"] for c in context.get_ciphers())


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _serving(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def https_port(ca: trustme.CA) -> Iterator[int]:
    # The certificate names "localhost" only, not 127.0.0.1: verification must use the host
    # name although the guard connects to the checked address.
    with local_server(tls=_serving(ca, "localhost")) as port:
        yield port


def test_an_untrusted_certificate_fails_the_handshake(https_port: int) -> None:
    policy = OutboundPolicy(allowed_networks=LOOPBACK)
    with (
        build_http_client(policy, version="t", resolver=LOCALHOST_RESOLVER) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"https://localhost:{https_port}/")


def test_an_added_ca_is_trusted_and_the_host_name_verified(https_port: int, ca_file: Path) -> None:
    policy = OutboundPolicy(allowed_networks=LOOPBACK, extra_ca_file=ca_file)
    with (
        build_http_client(policy, version="t", resolver=LOCALHOST_RESOLVER) as client,
        client.stream("GET", f"https://localhost:{https_port}/secure") as response,
    ):
        tls = response.extensions["network_stream"].get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.3"
        assert response.read() == b"hello /secure"


def test_a_certificate_for_another_name_is_refused(https_port: int, ca_file: Path) -> None:
    policy = OutboundPolicy(allowed_networks=LOOPBACK, extra_ca_file=ca_file)
    with (
        build_http_client(policy, version="t", resolver=LOCALHOST_RESOLVER) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"https://other.test:{https_port}/")


def _streaming(body: bytes, *, declare_length: bool) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if declare_length:
            return httpx.Response(200, content=body)
        return httpx.Response(200, content=iter([body[: len(body) // 2], body[len(body) // 2 :]]))

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_body_within_the_limit_is_read(declare_length: bool) -> None:
    transport = _streaming(b"x" * 100, declare_length=declare_length)
    with (
        build_http_client(OutboundPolicy(), version="t", transport=transport) as client,
        client.stream("GET", "https://api.example.com/") as response,
    ):
        assert read_limited(response, max_bytes=100) == b"x" * 100


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_body_over_the_limit_is_refused_without_its_content(declare_length: bool) -> None:
    transport = _streaming(b"secret-" * 20, declare_length=declare_length)
    with (
        build_http_client(OutboundPolicy(), version="t", transport=transport) as client,
        client.stream("GET", "https://api.example.com/") as response,
        pytest.raises(ResponseTooLargeError) as caught,
    ):
        read_limited(response, max_bytes=100)
    assert caught.value.host == "api.example.com"
    assert "secret" not in str(caught.value)
    assert response.is_closed
