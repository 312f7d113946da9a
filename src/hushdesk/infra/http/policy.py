"""What the outbound client may reach and how long it waits: one frozen policy object.

There is deliberately no switch for certificate verification: every HTTPS connection verifies
the server's chain and name. A private certificate authority (a self-hosted model server) is
trusted by adding it with ``extra_ca_file``, never by turning verification off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from hushdesk.infra.http.ssrf import IPNetwork
from hushdesk.infra.tls import TLS12_CIPHERS


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundPolicy:
    """Settings of every outbound HTTP client.

    ``allowed_networks``: private networks the SSRF guard lets through (see
    ``parse_networks``). Timeouts are in seconds. ``max_redirects``: redirects followed
    before ``httpx.TooManyRedirects`` (0 refuses every redirect).
    """

    allowed_networks: tuple[IPNetwork, ...] = ()
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    pool_timeout: float = 5.0
    max_redirects: int = 3
    max_connections: int = 20
    max_keepalive_connections: int = 10
    keepalive_expiry: float = 30.0
    extra_ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        timeouts = (self.connect_timeout, self.read_timeout, self.write_timeout, self.pool_timeout)
        if any(value <= 0 for value in timeouts):
            raise ValueError("every timeout must be positive: an outbound call may not wait forever")

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )


def outbound_ssl_context(policy: OutboundPolicy) -> ssl.SSLContext:
    """A client TLS context: the system's trusted CAs (plus ``policy.extra_ca_file``), chain
    and host name always verified, TLS 1.2 at least (1.3 whenever the server offers it) with
    forward-secret AEAD suites only.

    Built from ``ssl.SSLContext`` rather than ``ssl.create_default_context`` because the latter
    honours ``SSLKEYLOGFILE`` and would write session keys to disk when that variable is set.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # PROTOCOL_TLS_CLIENT already verifies; say so in place so that no later edit drops it.
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if policy.extra_ca_file is not None:
        context.load_verify_locations(cafile=policy.extra_ca_file)
    return context
