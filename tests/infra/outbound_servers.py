"""A real HTTP(S) server on 127.0.0.1 for the outbound client's tests, fake resolvers, and a
way to run a coroutine from a synchronous test.

Routes: ``/redirect?to=URL`` answers 302 to URL (with a body that must never surface in an
error); anything else answers 200 with ``hello <path>``.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx

from hushdesk.infra.http import IPAddress

REDIRECT_BODY = b"redirect body: internal-secret-7f3a"

T = TypeVar("T")


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a fresh event loop in a thread of its own, in a copy of this context
    (so an open unit of work is visible to it), and return its result or raise its error.

    Not ``asyncio.run`` here: another test of the session may hold an event loop running on
    the main thread (Playwright's sync API does), and ``asyncio.run`` refuses to nest.
    """
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, lambda: asyncio.run(main())).result()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/redirect":
            self._answer(302, REDIRECT_BODY, location=parse_qs(url.query)["to"][0])
        else:
            self._answer(200, b"hello " + url.path.encode())

    def _answer(self, status: int, body: bytes, location: str | None = None) -> None:
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is not the place for an access log."""


@contextmanager
def local_server(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """Serve on 127.0.0.1 (HTTPS with ``tls``) in a thread; yield the port; stop afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class FakeResolver:
    """Answers from a table, or from a list of successive answers for one host; records calls.

    Raises ``OSError`` (as ``getaddrinfo`` does) for a name it does not know.
    """

    def __init__(
        self,
        table: dict[str, Sequence[str]] | None = None,
        *,
        successive: Sequence[Sequence[str]] = (),
    ) -> None:
        self._table = {
            host: [ipaddress.ip_address(a) for a in answers] for host, answers in (table or {}).items()
        }
        self._successive = [[ipaddress.ip_address(a) for a in answers] for answers in successive]
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append((host, port))
        if host in self._table:
            return list(self._table[host])
        if self._successive:
            index = min(len(self.calls), len(self._successive)) - 1
            return list(self._successive[index])
        raise OSError(f"unknown host {host}")


class RecordingHandler:
    """An ``httpx.MockTransport`` handler that records each request and answers 200 ``ok``."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, text="ok")
