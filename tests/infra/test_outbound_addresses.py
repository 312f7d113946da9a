"""The SSRF guard's address classification, allow-list and single resolution (no network)."""

from __future__ import annotations

import ipaddress

import pytest

from hushdesk.infra.http import (
    CLOUD_METADATA_ADDRESSES,
    OutboundBlockedError,
    blocked_reason,
    check_address,
    parse_networks,
    resolve_checked,
)
from tests.infra.outbound_servers import FakeResolver

BLOCKED = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("169.254.1.1", "link-local"),
    ("192.0.0.9", "IETF protocol assignment"),
    ("192.0.2.10", "documentation"),
    ("198.51.100.10", "documentation"),
    ("203.0.113.10", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("233.252.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "unique-local"),
    ("fd12:3456:789a::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("100::1", "discard-only"),
    ("2001::1", "IETF protocol assignment"),  # Teredo
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("::7f00:1", "not global unicast"),  # IPv4-compatible ::127.0.0.1 (deprecated)
    ("5f00::1", "not global unicast"),  # SRv6
    ("4000::1", "not global unicast"),  # unassigned
    # IPv6 forms that carry a refused IPv4 address
    ("::ffff:127.0.0.1", "loopback (IPv4-mapped form of 127.0.0.1)"),
    ("::ffff:10.0.0.5", "private (IPv4-mapped form of 10.0.0.5)"),
    ("::ffff:100.64.0.1", "CGNAT"),
    ("2002:7f00:1::1", "loopback (6to4 form of 127.0.0.1)"),
    ("2002:a9fe:a9fe::", "cloud metadata service (6to4 form of 169.254.169.254)"),
    ("64:ff9b::7f00:1", "loopback (NAT64 form of 127.0.0.1)"),
    ("64:ff9b::c0a8:101", "private (NAT64 form of 192.168.1.1)"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.32.0.1",  # just above 172.16/12
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_special_purpose_addresses_are_refused(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize("address", PUBLIC)
def test_publicly_routable_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("address", sorted(str(a) for a in CLOUD_METADATA_ADDRESSES))
def test_cloud_metadata_addresses_are_named(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == "a cloud metadata service"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("10.0.0.5", "10.0.0.0/24"),
        ("127.0.0.1", "127.0.0.0/8"),
        ("::ffff:10.0.0.5", "10.0.0.0/8"),
        ("fd12::7", "fd12::/16"),
        ("100.64.3.4", "100.64.0.0/10"),
    ],
)
def test_allowed_networks_let_private_addresses_through(address: str, allowed: str) -> None:
    check_address(
        ipaddress.ip_address(address), host="model.internal", allowed_networks=parse_networks([allowed])
    )


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.0.0.6", "10.0.0.5"),
        ("10.0.1.5", "10.0.0.0/24"),
        ("127.0.0.2", "127.0.0.1"),
        ("::1", "127.0.0.0/8"),
    ],
)
def test_allowed_networks_cover_only_themselves(address: str, allowed: str) -> None:
    with pytest.raises(OutboundBlockedError):
        check_address(
            ipaddress.ip_address(address), host="x.test", allowed_networks=parse_networks([allowed])
        )


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192", "::ffff:169.254.169.254"],
)
def test_cloud_metadata_is_refused_even_inside_an_allowed_network(address: str) -> None:
    allowed = parse_networks(
        ["169.254.0.0/16", "fd00::/8", "100.64.0.0/10", "192.0.0.0/24", "::ffff:169.254.0.0/112"]
    )
    with pytest.raises(OutboundBlockedError, match="cloud metadata"):
        check_address(ipaddress.ip_address(address), host="metadata.test", allowed_networks=allowed)


def test_refusal_names_host_address_and_reason() -> None:
    with pytest.raises(OutboundBlockedError) as caught:
        check_address(ipaddress.ip_address("10.1.2.3"), host="intranet.example", allowed_networks=())
    assert caught.value.host == "intranet.example"
    assert (
        str(caught.value)
        == "outbound request to 'intranet.example' refused: it resolves to 10.1.2.3, private"
    )


@pytest.mark.parametrize("entry", ["0.0.0.0/0", "::/0"])
def test_allow_list_refuses_to_allow_everything(entry: str) -> None:
    with pytest.raises(ValueError, match="every address"):
        parse_networks([entry])


def test_allow_list_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        parse_networks(["intranet"])


def test_allow_list_ignores_host_bits() -> None:
    assert parse_networks([" 10.0.0.5/24 ", "fd00::1"]) == (
        ipaddress.ip_network("10.0.0.0/24"),
        ipaddress.ip_network("fd00::1/128"),
    )


def test_resolution_refuses_a_host_with_any_internal_answer() -> None:
    resolver = FakeResolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(OutboundBlockedError, match=r"10\.0\.0\.7"):
        resolve_checked("mixed.example", 443, resolver=resolver, allowed_networks=())


def test_resolution_returns_every_checked_answer_in_order() -> None:
    resolver = FakeResolver({"public.example": ["93.184.216.34", "2606:2800:220:1::248"]})
    addresses = resolve_checked("public.example", 443, resolver=resolver, allowed_networks=())
    assert [str(a) for a in addresses] == ["93.184.216.34", "2606:2800:220:1::248"]
    assert resolver.calls == [("public.example", 443)]


@pytest.mark.parametrize("literal", ["10.0.0.1", "::1", "169.254.169.254"])
def test_ip_literals_are_checked_without_asking_the_resolver(literal: str) -> None:
    resolver = FakeResolver()
    with pytest.raises(OutboundBlockedError):
        resolve_checked(literal, 80, resolver=resolver, allowed_networks=())
    assert resolver.calls == []


def test_a_name_without_answers_is_an_os_error() -> None:
    with pytest.raises(OSError, match="no address"):
        resolve_checked("empty.example", 80, resolver=lambda host, port: [], allowed_networks=())
