"""A business's website for the widget's browser tests: a static HTML page served by Python's
``http.server`` from a thread, on a loopback port of its own.

The page is the same whatever host name the browser used to reach it, so one server plays
both an allowed site (``shop.test``) and a foreign one (``evil.test``) once Chromium maps those
names to 127.0.0.1. It carries a strict Content-Security-Policy of its own, as a careful
business would, which lets the Hushdesk loader script, its one request and its iframe through
and nothing else: the loader must work under such a policy.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class HostPage:
    """The running host-page server: ``url(host)`` is its page as reached through ``host``."""

    port: int

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/"

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"


def snippet(*, hushdesk_base: str, widget_key: str) -> str:
    """The two-line embed snippet as the spec gives it (the agent's page must show this)."""
    src = html.escape(f"{hushdesk_base}/static/widget/loader.js", quote=True)
    key = html.escape(widget_key, quote=True)
    return f'<script src="{src}" defer\n        data-hushdesk-agent="{key}"></script>'


def shop_page(embed: str) -> str:
    """A small shop front page with the ``embed`` snippet pasted at the end of its body."""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        # No favicon request: its 404 would be noise in the console checks.
        '<link rel="icon" href="data:,">\n'
        "<title>Boots for every season</title>\n</head>\n<body>\n"
        "<h1>Boots for every season</h1>\n"
        "<p>Walking boots, wellies and winter boots, delivered to your door.</p>\n"
        f"{embed}\n"
        "</body>\n</html>\n"
    )


def host_policy(hushdesk_base: str) -> str:
    """The host page's own CSP: only the Hushdesk origin for scripts, requests and frames, and
    no style source at all (the loader styles its elements through the CSSOM)."""
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {hushdesk_base}",
            f"connect-src {hushdesk_base}",
            f"frame-src {hushdesk_base}",
            "img-src data:",
            "base-uri 'none'",
        )
    )


def _handler_for(body: bytes, policy: str) -> type[BaseHTTPRequestHandler]:
    class PageHandler(BaseHTTPRequestHandler):
        """``GET /`` is the page; anything else is a plain 404."""

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Quiet: pytest shows the test's own output, not a request log.
            return

    return PageHandler


@contextmanager
def serve_host_page(*, embed: str, hushdesk_base: str) -> Iterator[HostPage]:
    """Serve the shop page with ``embed`` pasted in, under a CSP that allows ``hushdesk_base``,
    on 127.0.0.1 (a free port) from a daemon thread until the block ends; the server is shut
    down and its socket closed on the way out, whatever happened."""
    body = shop_page(embed).encode("utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(body, host_policy(hushdesk_base)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="host-page", daemon=True)
    thread.start()
    try:
        yield HostPage(port=int(server.server_address[1]))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=SERVER_STOP_TIMEOUT_S)
