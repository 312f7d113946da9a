"""Security headers on every response.

The Content-Security-Policy allows only our own scripts, styles and images: no inline script
or style, no plugins, no framing (``frame-ancestors 'none'``). A route that must differ (the
widget's iframe page) sets its own policy, which is then left alone; X-Frame-Options, which
cannot name the sites allowed to frame a page, is then left off. The widget's loader script is
the one resource other sites load (``Cross-Origin-Resource-Policy: cross-origin``). HSTS is sent
when the request arrived over TLS (directly, or from a trusted proxy that says so).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
# Loaded by the pages of the businesses' own websites.
CROSS_ORIGIN_RESOURCES = frozenset({"/static/widget/loader.js"})
HSTS = "max-age=63072000; includeSubDomains"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=()"
)

_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    # Setup and reset links carry a secret in the path: never send it to another origin.
    # (Not "no-referrer": that makes browsers send "Origin: null" on form posts, which
    # would defeat the same-origin check on state-changing requests.)
    ("referrer-policy", "same-origin"),
    ("permissions-policy", PERMISSIONS_POLICY),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-frame-options", "DENY"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                own_policy = "content-security-policy" in headers
                if scope.get("path") in CROSS_ORIGIN_RESOURCES:
                    headers["cross-origin-resource-policy"] = "cross-origin"
                for name, value in _DEFAULTS:
                    if name == "x-frame-options" and own_policy:
                        continue
                    if name not in headers:
                        headers[name] = value
                if secure and "strict-transport-security" not in headers:
                    headers["strict-transport-security"] = HSTS
                if "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
