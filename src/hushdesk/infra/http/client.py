"""The one way the product makes outbound HTTP calls.

``build_http_client`` and ``build_async_http_client`` return httpx clients with certificate
verification always on, TLS 1.2 at least, explicit timeouts, no proxy or netrc taken from the
environment, a bounded number of redirects, ``User-Agent: Hushdesk/<version>``, the SSRF
guard on every connection and the transaction guard on every request (see ``guard``).
Callers own the client and close it (``with build_http_client(...) as client:``).
"""

from __future__ import annotations

import httpx

from hushdesk.infra.http.errors import ResponseTooLargeError
from hushdesk.infra.http.guard import AsyncGuardTransport, GuardTransport
from hushdesk.infra.http.policy import OutboundPolicy
from hushdesk.infra.http.resolver import Resolver, system_resolver
from hushdesk.infra.http.transport import AsyncNetworkTransport, NetworkTransport


def build_http_client(
    policy: OutboundPolicy,
    *,
    version: str,
    transport: httpx.MockTransport | None = None,
    resolver: Resolver = system_resolver,
) -> httpx.Client:
    """An ``httpx.Client`` for outbound calls under ``policy``.

    ``version`` is the product version for the User-Agent. ``transport`` replaces the network
    with an in-memory ``httpx.MockTransport`` (tests); the transaction guard and the URL
    checks still apply to it, the address checks do not, since it has no network. Any other
    transport is refused with ``TypeError``: a real one could bring its own ``verify=False``
    or proxy. ``resolver`` replaces DNS for the real network (tests). A refused request
    raises ``OutboundBlockedError``, a call inside a unit of work ``TransactionOpenError``;
    network failures stay httpx errors.
    """
    _refuse_real_transport(transport)
    inner = transport if transport is not None else NetworkTransport(policy, resolver=resolver)
    return httpx.Client(
        transport=GuardTransport(inner),
        timeout=policy.timeout,
        follow_redirects=True,
        max_redirects=policy.max_redirects,
        trust_env=False,
        headers={"User-Agent": user_agent(version)},
    )


def build_async_http_client(
    policy: OutboundPolicy,
    *,
    version: str,
    transport: httpx.MockTransport | None = None,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """The asynchronous twin of ``build_http_client``, with the same contract."""
    _refuse_real_transport(transport)
    inner = transport if transport is not None else AsyncNetworkTransport(policy, resolver=resolver)
    return httpx.AsyncClient(
        transport=AsyncGuardTransport(inner),
        timeout=policy.timeout,
        follow_redirects=True,
        max_redirects=policy.max_redirects,
        trust_env=False,
        headers={"User-Agent": user_agent(version)},
    )


def _refuse_real_transport(transport: object) -> None:
    if transport is not None and not isinstance(transport, httpx.MockTransport):
        raise TypeError(
            f"only an httpx.MockTransport may replace the network, not {type(transport).__name__}"
        )


def user_agent(version: str) -> str:
    return f"Hushdesk/{version}"


def read_limited(response: httpx.Response, *, max_bytes: int) -> bytes:
    """The decoded body of a streamed response (``client.stream(...)``), at most ``max_bytes``.

    Raises ``ResponseTooLargeError`` as soon as the declared or the received length passes
    the limit, and closes the response; nothing beyond the limit is kept in memory.
    """
    body = bytearray()
    if not _declared_too_large(response, max_bytes):
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                break
        else:
            return bytes(body)
    response.close()
    raise ResponseTooLargeError(host=response.request.url.host, max_bytes=max_bytes)


async def aread_limited(response: httpx.Response, *, max_bytes: int) -> bytes:
    """The asynchronous twin of ``read_limited``, with the same contract."""
    body = bytearray()
    if not _declared_too_large(response, max_bytes):
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                break
        else:
            return bytes(body)
    await response.aclose()
    raise ResponseTooLargeError(host=response.request.url.host, max_bytes=max_bytes)


def _declared_too_large(response: httpx.Response, max_bytes: int) -> bool:
    declared = response.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > max_bytes
