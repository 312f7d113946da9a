"""Outbound HTTP: the one client factory every outbound call goes through.

Build a client with ``build_http_client(policy, version=...)`` (or the async twin) and close
it when done. Every request is refused inside an open database unit of work
(``TransactionOpenError``), for a scheme other than http(s) or credentials in the URL, and
for a host that resolves to an address that is not publicly routable unless an allowed
network covers it (``OutboundBlockedError``). The address is resolved once and the connection
goes to the address that was checked. See docs/adr/0004-outbound-http-and-tls.md.
"""

from __future__ import annotations

from hushdesk.infra.http.backend import AsyncGuardedBackend, GuardedBackend
from hushdesk.infra.http.client import (
    aread_limited,
    build_async_http_client,
    build_http_client,
    read_limited,
    user_agent,
)
from hushdesk.infra.http.errors import OutboundBlockedError, OutboundError, ResponseTooLargeError
from hushdesk.infra.http.guard import check_request
from hushdesk.infra.http.policy import OutboundPolicy, outbound_ssl_context
from hushdesk.infra.http.resolver import Resolver, resolve_checked, system_resolver
from hushdesk.infra.http.ssrf import (
    CLOUD_METADATA_ADDRESSES,
    IPAddress,
    IPNetwork,
    blocked_reason,
    check_address,
    parse_networks,
)

__all__ = [
    "CLOUD_METADATA_ADDRESSES",
    "AsyncGuardedBackend",
    "GuardedBackend",
    "IPAddress",
    "IPNetwork",
    "OutboundBlockedError",
    "OutboundError",
    "OutboundPolicy",
    "Resolver",
    "ResponseTooLargeError",
    "aread_limited",
    "blocked_reason",
    "build_async_http_client",
    "build_http_client",
    "check_address",
    "check_request",
    "outbound_ssl_context",
    "parse_networks",
    "read_limited",
    "resolve_checked",
    "system_resolver",
    "user_agent",
]
