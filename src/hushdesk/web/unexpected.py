"""The last line of defence: an exception no handler claimed becomes a 500 with a correlation
id, rendered inside the security-header and request-id middleware so that it carries both."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hushdesk.infra.errors import InternalError
from hushdesk.infra.logs import request_id_var
from hushdesk.web.errors import ErrorRenderer

log = logging.getLogger(__name__)


class UnexpectedErrorMiddleware:
    def __init__(self, app: ASGIApp, *, renderer: ErrorRenderer) -> None:
        self.app = app
        self.renderer = renderer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            route = scope.get("route")
            log.error(
                "unhandled error",
                exc_info=exc,
                extra={"route": getattr(route, "path", "unmatched"), "method": scope["method"]},
            )
            if started:
                # Headers are gone; all that is left is to cut the response short.
                raise
            response = self.renderer.render(scope, InternalError(), correlation_id=request_id_var.get())
            await response(scope, receive, send)
