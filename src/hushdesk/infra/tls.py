"""TLS for the server: TLS 1.3 only by default, 1.2 only when configured for old clients."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

MIN_VERSIONS = {"1.3": ssl.TLSVersion.TLSv1_3, "1.2": ssl.TLSVersion.TLSv1_2}
# Forward-secret AEAD suites only, for when 1.2 is allowed (1.3's suites are all of that kind).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

SSLContextFactory = Callable[[Any, Callable[[], ssl.SSLContext]], ssl.SSLContext]


def harden_server_context(context: ssl.SSLContext, min_version: str) -> ssl.SSLContext:
    """Set the minimum protocol version and drop weak options on a server context."""
    if min_version not in MIN_VERSIONS:
        raise ValueError(f"unsupported minimum TLS version {min_version!r}")
    context.minimum_version = MIN_VERSIONS[min_version]
    context.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    if min_version == "1.2":
        context.set_ciphers(TLS12_CIPHERS)
    return context


def server_ssl_context_factory(min_version: str) -> SSLContextFactory:
    """A uvicorn ``ssl_context_factory``: uvicorn's context (certificate and key loaded),
    hardened."""
    if min_version not in MIN_VERSIONS:
        raise ValueError(f"unsupported minimum TLS version {min_version!r}")

    def factory(_config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return harden_server_context(default(), min_version)

    return factory
