"""A tiny OpenAI-compatible model server on loopback, for tests that run the real server in a
subprocess: the first chat request hangs (the reply is "mid-flight"), later ones stream an answer.

``HangingModelServer`` answers ``POST <prefix>/chat/completions`` in the Chat Completions
wire format (``data:`` server-sent events ending in ``data: [DONE]``, from
``tests.agents.providers.wire``). The first request sets ``first_request`` and then holds its
connection open, sending nothing, until ``release()`` or until the client goes away (a killed
process: the kernel closes its socket). Every request is recorded with its headers and body.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.agents.providers.wire import openai_stream_body

POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    path: str
    authorization: str
    body: dict[str, Any]

    def sent_text(self) -> str:
        """Every message's content, joined: what the model was shown."""
        return "\n".join(str(message["content"]) for message in self.body["messages"])


class HangingModelServer:
    """Serves on 127.0.0.1 (a free port) in a background thread from ``start()`` (or entering
    the context) until ``stop()``. ``answer`` are the pieces of the streamed reply."""

    def __init__(self, *answer: str) -> None:
        assert answer, "the model needs something to say"
        self.answer = answer
        self.first_request = threading.Event()
        self.requests: list[ReceivedRequest] = []
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="model-server", daemon=True)

    @property
    def port(self) -> int:
        port: int = self._httpd.server_address[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> HangingModelServer:
        self._thread.start()
        return self

    def release(self) -> None:
        """Let a hanging first request end (without an answer)."""
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> HangingModelServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def received(self, request: ReceivedRequest) -> int:
        """Record ``request``; returns how many have come in, this one included."""
        with self._lock:
            self.requests.append(request)
            return len(self.requests)

    def hang(self, connection: socket.socket) -> None:
        """Hold ``connection`` until released or closed by the client."""
        self.first_request.set()
        while not self._released.wait(POLL_SECONDS):
            readable, _, _ = select.select([connection], [], [], 0)
            if readable and _closed_by_peer(connection):
                return


def _closed_by_peer(connection: socket.socket) -> bool:
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _handler_for(server: HangingModelServer) -> type[BaseHTTPRequestHandler]:
    class ChatCompletions(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            number = server.received(ReceivedRequest(self.path, self.headers.get("authorization", ""), body))
            if not self.path.endswith("/chat/completions"):
                self.send_error(404)
                return
            if number == 1:
                server.hang(self.connection)
                self.close_connection = True
                return
            payload = openai_stream_body(*server.answer).encode()
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the test reports what matters

    return ChatCompletions
