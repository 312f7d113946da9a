"""Which IP addresses the outbound client may connect to.

An address is refused when it is not publicly routable: loopback, private, link-local,
unique-local, multicast, reserved, unspecified, shared (CGNAT), documentation and the other
IANA special-purpose ranges, the IPv6 forms that carry one of those inside them (IPv4-mapped,
6to4, NAT64), and the cloud metadata services. The ranges are listed here rather than taken
from ``ipaddress.is_global`` alone, whose answers differ between Python patch releases; the
library's view is kept as a second, stricter opinion.

An operator may allow private networks explicitly (``HUSHDESK_OUTBOUND_ALLOWED_NETWORKS``,
for example a self-hosted model server on ``10.0.0.5``). Cloud metadata addresses stay
refused even then: nothing the product calls lives there, and they hand out credentials.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from hushdesk.infra.http.errors import OutboundBlockedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CLOUD_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner, ...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.169.253",  # AWS VPC DNS
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS, IPv6
        "fd00:ec2::253",  # AWS VPC DNS, IPv6
    )
)

_SPECIAL_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("169.254.0.0/16", "link-local"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("198.18.0.0/15", "benchmarking"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignment"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        # Everything else outside 2000::/3 is not global unicast (IPv4-compatible ::/96,
        # SRv6 5f00::/16, unassigned space); checked after the embedded forms below.
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse allow-list entries (addresses or CIDR networks; host bits are ignored).

    Raises ``ValueError`` for an entry that does not parse, and for a zero-length prefix
    (``0.0.0.0/0``, ``::/0``), which would switch the guard off rather than allow a network.
    """
    networks: list[IPNetwork] = []
    for value in values:
        network = ipaddress.ip_network(value.strip(), strict=False)
        if network.prefixlen == 0:
            raise ValueError(f"{value!r} would allow every address; name the networks to allow")
        networks.append(network)
    return tuple(networks)


def blocked_reason(address: IPAddress) -> str | None:
    """Why the guard refuses ``address`` by default, or ``None`` when it is publicly routable.

    Pure; the allow-list is not consulted (see ``check_address``).
    """
    if address in CLOUD_METADATA_ADDRESSES:
        return "a cloud metadata service"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        form, inner = embedded
        reason = blocked_reason(inner)
        return None if reason is None else f"{reason} ({form} form of {inner})"
    for network, reason in _SPECIAL_RANGES:
        if address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "not global unicast"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "not globally routable"
    return None


def check_address(address: IPAddress, *, host: str, allowed_networks: Iterable[IPNetwork]) -> None:
    """Refuse a connection to ``address`` (which ``host`` resolved to) unless it is publicly
    routable or inside one of ``allowed_networks``.

    Raises ``OutboundBlockedError`` naming the host, the address and the reason. Cloud
    metadata addresses are refused even when an allowed network contains them.
    """
    reason = blocked_reason(address)
    if reason is None:
        return
    if not _is_cloud_metadata(address) and _is_allowed(address, allowed_networks):
        return
    raise OutboundBlockedError(
        f"outbound request to {host!r} refused: it resolves to {address}, {reason}", host=host
    )


def _is_cloud_metadata(address: IPAddress) -> bool:
    embedded = _embedded_ipv4(address)
    return address in CLOUD_METADATA_ADDRESSES or (
        embedded is not None and embedded[1] in CLOUD_METADATA_ADDRESSES
    )


def _is_allowed(address: IPAddress, allowed_networks: Iterable[IPNetwork]) -> bool:
    # A connection to ::ffff:a.b.c.d reaches a.b.c.d, so an IPv4 entry covers its mapped form.
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(candidate in network for candidate in candidates for network in allowed_networks)


def _embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for, when the network routes it there."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour is not None:
        return "6to4", address.sixtofour
    if address in _NAT64_WELL_KNOWN:
        return "NAT64", ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
