"""A request id for every request (echoed as X-Request-ID and on every log line), and one
access-log line per request.

The access log records the route's template (``/setup/{token}``), never the raw path or the
query string, because some paths and queries carry secrets.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hushdesk.infra.logs import request_id_var

access_log = logging.getLogger("hushdesk.access")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, trust_incoming_id: bool) -> None:
        self.app = app
        self.trust_incoming_id = trust_incoming_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._incoming_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": getattr(route, "path", "unmatched"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)

    def _incoming_id(self, scope: Scope) -> str | None:
        if not self.trust_incoming_id:
            return None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                return candidate if _SAFE_REQUEST_ID.match(candidate) else None
        return None


def client_address(request: Request) -> str:
    """The client's address (the proxy's, unless it is a trusted one that said whose)."""
    return request.client.host if request.client else "unknown"
