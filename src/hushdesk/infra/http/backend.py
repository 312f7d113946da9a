"""httpcore network backends that connect only to addresses the SSRF guard has checked.

httpcore asks its backend to ``connect_tcp(host, port)``. These backends resolve the host
once (``resolve_checked``), then hand the wrapped backend an IP literal, so the socket goes to
exactly an address that was checked. TLS is layered on afterwards by httpcore with the
original host name as SNI and for certificate verification, so pinning the address weakens
neither.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Sequence

import anyio.to_thread
import httpcore

from hushdesk.infra.http.resolver import Resolver, resolve_checked
from hushdesk.infra.http.ssrf import IPAddress, IPNetwork

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class GuardedBackend(httpcore.NetworkBackend):
    """A synchronous backend that refuses unchecked destinations.

    ``connect_tcp`` raises ``OutboundBlockedError`` when the host resolves to a refused
    address, ``httpcore.ConnectError`` when it does not resolve or no checked address
    accepts, and ``httpcore.ConnectTimeout`` when ``timeout`` runs out; the timeout bounds
    all attempts together, not each one.
    """

    def __init__(
        self,
        *,
        allowed_networks: Iterable[IPNetwork],
        resolver: Resolver,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._allowed_networks = tuple(allowed_networks)
        self._resolver = resolver
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve_checked(
                host, port, resolver=self._resolver, allowed_networks=self._allowed_networks
            )
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host!r}") from exc
        deadline = _Deadline(timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=deadline.remaining(host),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise _connect_failure(host, addresses, failure)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """The asynchronous twin of ``GuardedBackend``, with the same contract. The resolver runs
    in a worker thread (``getaddrinfo`` blocks)."""

    def __init__(
        self,
        *,
        allowed_networks: Iterable[IPNetwork],
        resolver: Resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allowed_networks = tuple(allowed_networks)
        self._resolver = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface names it so)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        resolve = functools.partial(
            resolve_checked, host, port, resolver=self._resolver, allowed_networks=self._allowed_networks
        )
        try:
            addresses = await anyio.to_thread.run_sync(resolve)
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host!r}") from exc
        deadline = _Deadline(timeout)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=deadline.remaining(host),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise _connect_failure(host, addresses, failure)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _Deadline:
    def __init__(self, timeout: float | None) -> None:
        self._end = None if timeout is None else time.monotonic() + timeout

    def remaining(self, host: str) -> float | None:
        if self._end is None:
            return None
        left = self._end - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout(f"connecting to {host!r} timed out")
        return left


def _connect_failure(host: str, addresses: Sequence[IPAddress], last: Exception | None) -> Exception:
    """The error to raise when no checked address accepted: a timeout stays a timeout."""
    if isinstance(last, httpcore.ConnectTimeout):
        return last
    listed = ", ".join(str(address) for address in addresses)
    error = httpcore.ConnectError(f"could not connect to {host!r} at {listed}")
    error.__cause__ = last
    return error
