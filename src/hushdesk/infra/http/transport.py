"""httpx transports over an httpcore connection pool whose backend is the SSRF guard.

They do what ``httpx.HTTPTransport`` does (map an httpx request to httpcore and back, and
httpcore's errors to httpx's), with two differences: the pool's network backend connects only
to checked addresses, and the TLS context comes from ``outbound_ssl_context``, so there is no
proxy, no ``verify=False`` and no environment in the way.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from hushdesk.infra.http.backend import AsyncGuardedBackend, GuardedBackend
from hushdesk.infra.http.policy import OutboundPolicy, outbound_ssl_context
from hushdesk.infra.http.resolver import Resolver, system_resolver

# Looked up along the raised error's MRO, so the most specific mapping wins.
_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
}


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Re-raise httpcore's errors as the matching httpx errors; let everything else (our
    ``OutboundBlockedError`` among them) through unchanged."""
    try:
        yield
    except Exception as exc:
        for kind in type(exc).__mro__:
            mapped = _ERRORS.get(kind)
            if mapped is not None:
                raise mapped(str(exc)) from exc
        raise


def _core_request(
    request: httpx.Request, content: Iterable[bytes] | AsyncIterable[bytes]
) -> httpcore.Request:
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(
            scheme=request.url.raw_scheme,
            host=request.url.raw_host,
            port=request.url.port,
            target=request.url.raw_path,
        ),
        headers=request.headers.raw,
        content=content,
        extensions=request.extensions,
    )


class NetworkTransport(httpx.BaseTransport):
    """The real network, through the SSRF guard. Every new connection (so every redirect to a
    new origin) resolves and checks its host; see ``GuardedBackend``."""

    def __init__(self, policy: OutboundPolicy, *, resolver: Resolver = system_resolver) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=outbound_ssl_context(policy),
            max_connections=policy.max_connections,
            max_keepalive_connections=policy.max_keepalive_connections,
            keepalive_expiry=policy.keepalive_expiry,
            network_backend=GuardedBackend(allowed_networks=policy.allowed_networks, resolver=resolver),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        with _mapped_errors():
            response = self._pool.handle_request(_core_request(request, request.stream))
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class AsyncNetworkTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of ``NetworkTransport``."""

    def __init__(self, policy: OutboundPolicy, *, resolver: Resolver = system_resolver) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=outbound_ssl_context(policy),
            max_connections=policy.max_connections,
            max_keepalive_connections=policy.max_keepalive_connections,
            keepalive_expiry=policy.keepalive_expiry,
            network_backend=AsyncGuardedBackend(allowed_networks=policy.allowed_networks, resolver=resolver),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        with _mapped_errors():
            response = await self._pool.handle_async_request(_core_request(request, request.stream))
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_AsyncResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _mapped_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _AsyncResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()
