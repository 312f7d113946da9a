"""Request guards that run before routing: the Host header and the body size.

Both answer with our own error shape (JSON or HTML by Accept) and never reach a route, so a
refused request changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hushdesk.infra.errors import InvalidHost, PayloadTooLarge
from hushdesk.web.errors import ErrorRenderer


class TrustedHostMiddleware:
    """Refuses requests whose Host header is not one of ``allowed_hosts`` (``*`` allows all,
    ``*.example.com`` allows subdomains). Guards against host-header poisoning of links the
    server prints and against DNS rebinding of a server bound to loopback."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: Sequence[str], renderer: ErrorRenderer) -> None:
        self.app = app
        self.allow_any = "*" in allowed_hosts
        self.exact = {host.lower() for host in allowed_hosts if not host.startswith("*.")}
        self.suffixes = tuple(host[1:].lower() for host in allowed_hosts if host.startswith("*."))
        self.renderer = renderer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allow_any:
            await self.app(scope, receive, send)
            return
        if self._allowed(_host_of(scope)):
            await self.app(scope, receive, send)
            return
        response = self.renderer.render(scope, InvalidHost())
        await response(scope, receive, send)

    def _allowed(self, host: str) -> bool:
        return host in self.exact or (bool(self.suffixes) and host.endswith(self.suffixes))


def _host_of(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            if host.startswith("["):
                return host.split("]")[0] + "]"
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return ""


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413: at once when Content-Length says so, or as
    soon as a chunked body passes the limit (the body is read ahead, up to the limit, before
    the route sees any of it). Paths matching one of ``upload_paths`` (file uploads) have
    ``upload_max_bytes`` instead. ``path_limits`` give routes that authenticate before reading
    their body (the widget's attachments) a limit of their own, counted as the route reads:
    nothing is read ahead, and passing the limit raises ``PayloadTooLarge`` into the route."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        renderer: ErrorRenderer,
        upload_max_bytes: int | None = None,
        upload_paths: tuple[re.Pattern[str], ...] = (),
        path_limits: tuple[tuple[re.Pattern[str], int], ...] = (),
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes
        self.upload_paths = upload_paths
        self.path_limits = path_limits
        self.renderer = renderer

    def _streamed_limit_for(self, path: str) -> int | None:
        for pattern, limit in self.path_limits:
            if pattern.fullmatch(path):
                return limit
        return None

    def _limit_for(self, path: str) -> int:
        if any(pattern.fullmatch(path) for pattern in self.upload_paths):
            return self.upload_max_bytes
        return self.default_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        streamed = self._streamed_limit_for(scope["path"])
        max_bytes = streamed if streamed is not None else self._limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and (declared < 0 or declared > max_bytes):
            await self.renderer.render(scope, PayloadTooLarge())(scope, receive, send)
            return
        if streamed is not None:
            await self.app(scope, _counting(receive, streamed), send)
            return
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > max_bytes:
                await self.renderer.render(scope, PayloadTooLarge())(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replay_receive() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replay_receive, send)


def _counting(receive: Receive, max_bytes: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise PayloadTooLarge()
        return message

    return counted


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None
