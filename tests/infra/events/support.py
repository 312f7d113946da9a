"""Helpers for the event bus tests: unique topics, and a TCP relay that can cut connections."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from hushdesk.infra.events import EventBus

# Builds a bus for a URL, as another server process would (the ``make_bus`` fixture).
BusFactory = Callable[[str], EventBus]


def unique_topic(prefix: str = "test") -> str:
    # A topic of its own per test, so that parallel runs never see each other's events.
    return f"{prefix}.{uuid.uuid4().hex}"


class SeverableRelay:
    """Relays TCP connections from a port on 127.0.0.1 to a local server, and cuts every open
    one on ``sever()``: a network failure between a subscriber and its server. New connections
    are still relayed afterwards, so a reconnect succeeds, unless ``refusing`` is set: then each
    new connection is closed at once, as if the server were away."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        # A short accept timeout lets the accept loop notice ``close()``.
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        # Every socket ever relayed, closed (not only shut) by ``close()``.
        self._sockets: list[socket.socket] = []
        self._stopping = threading.Event()
        self.refusing = threading.Event()
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True)]
        self._threads[0].start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target_port), timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                self._threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                _shut(end)

    def sever(self) -> None:
        """Cut every connection open now (both ends see the connection end)."""
        with self._lock:
            cut, self._open = self._open, []
        for end in cut:
            _shut(end)

    def close(self) -> None:
        self._stopping.set()
        self.sever()
        for thread in self._threads:
            thread.join(timeout=2)
        self._listener.close()
        with self._lock:
            for end in self._sockets:
                end.close()


def through_relay(url: str, relay: SeverableRelay) -> str:
    """``url`` with its host and port replaced by the relay's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{relay.port}" if credentials else f"127.0.0.1:{relay.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _shut(end: socket.socket) -> None:
    # Already shut, or never connected: nothing to cut.
    with contextlib.suppress(OSError):
        end.shutdown(socket.SHUT_RDWR)


@contextmanager
def severable_relay(target_port: int) -> Iterator[SeverableRelay]:
    relay = SeverableRelay(target_port)
    try:
        yield relay
    finally:
        relay.close()
