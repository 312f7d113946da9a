"""Name resolution for the outbound client: resolve once, check every answer.

The SSRF guard resolves a host exactly once per connection, checks every address it got, and
the connection then goes to one of those checked addresses. Nothing resolves the name again
between the check and the connect, so a DNS answer that changes in between (DNS rebinding)
cannot steer the connection elsewhere.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Sequence

from hushdesk.infra.http.errors import OutboundBlockedError
from hushdesk.infra.http.ssrf import IPAddress, IPNetwork, check_address

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Sequence[IPAddress]]
"""``(host, port) -> addresses``, in the order to try them. Raises ``OSError`` when the name
does not resolve. Injectable so that tests never touch real DNS."""


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` for a TCP connection with the system resolver (``getaddrinfo``).

    Numeric forms the C library accepts (``2130706433``, ``0x7f.1``, ``017700000001``) come
    back as the addresses they spell, so they are checked like any other answer. Raises
    ``socket.gaierror`` (an ``OSError``) when the name does not resolve.
    """
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def resolve_checked(
    host: str, port: int, *, resolver: Resolver, allowed_networks: Iterable[IPNetwork]
) -> list[IPAddress]:
    """Resolve ``host`` once and return its addresses, all of them checked by the SSRF guard.

    An IP literal is used as it is, without asking the resolver. A host with any refused
    address is refused as a whole: a name that points at both a public and an internal
    address is not one to trust with either. Raises ``OutboundBlockedError`` when refused and
    ``OSError`` when the name does not resolve (or resolves to nothing).
    """
    try:
        addresses: Sequence[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = resolver(host, port)
    if not addresses:
        raise OSError(f"{host!r} resolved to no address")
    allowed = tuple(allowed_networks)
    try:
        for address in addresses:
            check_address(address, host=host, allowed_networks=allowed)
    except OutboundBlockedError as exc:
        log.warning("outbound connection refused by the SSRF guard", extra={"host": host, "reason": str(exc)})
        raise
    return list(addresses)
