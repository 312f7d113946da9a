"""Checks every request makes before any transport sees it, redirects included.

``GuardTransport`` wraps the transport that does the I/O (the SSRF-guarded network, or an
``httpx.MockTransport`` in tests) and refuses, in this order:

1. any call while a database unit of work is open in this context
   (``TransactionOpenError``): a network call inside a transaction holds locks and a
   connection for as long as a third party takes to answer, and ties a rollback to a side
   effect that cannot be rolled back;
2. a scheme other than http or https, and credentials in the URL (``OutboundBlockedError``).

httpx sends each redirect hop through the transport again, so each hop is checked.
"""

from __future__ import annotations

import httpx

from hushdesk.infra.db.uow import TransactionOpenError, transaction_open
from hushdesk.infra.http.errors import OutboundBlockedError

ALLOWED_SCHEMES = frozenset({"http", "https"})


def check_request(request: httpx.Request) -> None:
    """Raise ``TransactionOpenError`` or ``OutboundBlockedError`` if ``request`` may not be
    sent now; return quietly otherwise. Sends nothing."""
    host = request.url.host
    if transaction_open():
        raise TransactionOpenError(
            f"outbound {request.method} to {host!r} inside an open database transaction: "
            "commit first, then call out"
        )
    if request.url.scheme not in ALLOWED_SCHEMES:
        raise OutboundBlockedError(
            f"outbound request to {host!r} refused: scheme {request.url.scheme!r} is not http or https",
            host=host,
        )
    if request.url.userinfo:
        raise OutboundBlockedError(
            f"outbound request to {host!r} refused: credentials in the URL; send them in a header",
            host=host,
        )


class GuardTransport(httpx.BaseTransport):
    """Runs ``check_request`` and then hands the request to ``inner``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_request(request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class AsyncGuardTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of ``GuardTransport``."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_request(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
