"""TLS in transit: the server speaks TLS 1.3 only unless 1.2 is configured, checked with real
handshakes on loopback and a certificate made for the test (trustme).

The fast tests run the server context from ``server_ssl_context_factory`` against client
contexts in memory; the slow ones start the real ``hushdesk serve`` and talk to it over TCP.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from hushdesk.infra.tls import server_ssl_context_factory

STARTUP_TIMEOUT_SECONDS = 60


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


def _client(ca: trustme.CA, *, only_tls12: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    if only_tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def _hardened(cert: trustme.LeafCert, min_version: str) -> ssl.SSLContext:
    def uvicorn_default() -> ssl.SSLContext:
        # What uvicorn builds before the factory hardens it (its defaults: TLS server
        # protocol, cipher string "TLSv1").
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(context)
        context.set_ciphers("TLSv1")
        return context

    return server_ssl_context_factory(min_version)(None, uvicorn_default)


def _handshake_in_memory(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """Run a full handshake between the two contexts through memory buffers; return the
    client's end. Raises ``ssl.SSLError`` when they cannot agree."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client_end = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    server_end = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        finished = 0
        for end in (client_end, server_end):
            try:
                end.do_handshake()
                finished += 1
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if finished == 2:
            return client_end
    raise AssertionError("the handshake did not finish")


def test_default_context_negotiates_tls13(ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    client_end = _handshake_in_memory(_hardened(server_cert, "1.3"), _client(ca))
    assert client_end.version() == "TLSv1.3"


def test_default_context_refuses_a_tls12_client(ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    with pytest.raises(ssl.SSLError):
        _handshake_in_memory(_hardened(server_cert, "1.3"), _client(ca, only_tls12=True))


def test_tls12_when_configured_uses_forward_secret_aead(
    ca: trustme.CA, server_cert: trustme.LeafCert
) -> None:
    client_end = _handshake_in_memory(_hardened(server_cert, "1.2"), _client(ca, only_tls12=True))
    assert client_end.version() == "TLSv1.2"
    cipher = client_end.cipher()
    assert cipher is not None
    assert cipher[0].startswith("ECDHE-")
    assert "GCM" in cipher[0] or "CHACHA20" in cipher[0]


def test_tls12_when_configured_refuses_cbc_suites(ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    client = _client(ca, only_tls12=True)
    client.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384")
    with pytest.raises(ssl.SSLError):
        _handshake_in_memory(_hardened(server_cert, "1.2"), client)


def test_tls12_when_configured_still_prefers_tls13(ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    assert _handshake_in_memory(_hardened(server_cert, "1.2"), _client(ca)).version() == "TLSv1.3"


def test_hardened_context_drops_compression_and_renegotiation(server_cert: trustme.LeafCert) -> None:
    context = _hardened(server_cert, "1.3")
    assert context.minimum_version is ssl.TLSVersion.TLSv1_3
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION


@pytest.mark.parametrize("version", ["1.1", "1.0", "", "1.4"])
def test_other_minimum_versions_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match="unsupported minimum TLS version"):
        server_ssl_context_factory(version)


# ---- the real server ---------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    tls_version: str | None
    cipher: str | None
    status: int
    headers: dict[str, str]


def _get_healthz(port: int, context: ssl.SSLContext) -> Answer:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        cipher = tls.cipher()
        answer_version = tls.version()
    head = data.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in head[1:])
    return Answer(
        tls_version=answer_version,
        cipher=None if cipher is None else cipher[0],
        status=int(head[0].split()[1]),
        headers={name.strip().lower(): value.strip() for name, value in headers.items()},
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hushdesk serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"hushdesk serve did not listen on {port} within {STARTUP_TIMEOUT_SECONDS}s:\n{log.read_text()}"
    )


@contextmanager
def _hushdesk_serve(folder: Path, cert: trustme.LeafCert, min_version: str | None) -> Iterator[int]:
    """Run ``hushdesk serve`` with TLS on a free loopback port; yield the port; stop it."""
    cert_file, key_file, log = folder / "cert.pem", folder / "key.pem", folder / "serve.log"
    for index, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(cert_file), append=index > 0)
    cert.private_key_pem.write_to_path(str(key_file))
    env = {name: value for name, value in os.environ.items() if not name.startswith("HUSHDESK_")}
    if min_version is not None:
        env["HUSHDESK_TLS_MIN_VERSION"] = min_version
    port = _free_port()
    command = [
        sys.executable, "-m", "hushdesk", "serve",
        "--port", str(port),
        "--data-dir", str(folder / "var"),
        "--keys-dir", str(folder / "keys"),
        "--tls-cert", str(cert_file),
        "--tls-key", str(key_file),
    ]  # fmt: skip
    with log.open("wb") as output:
        # cwd is the test folder so that no .env file of the developer's is read.
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_listening(process, port, log)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory, server_cert: trustme.LeafCert) -> Iterator[int]:
    with _hushdesk_serve(tmp_path_factory.mktemp("serve-tls13"), server_cert, None) as port:
        yield port


@pytest.fixture(scope="module")
def tls12_server(tmp_path_factory: pytest.TempPathFactory, server_cert: trustme.LeafCert) -> Iterator[int]:
    with _hushdesk_serve(tmp_path_factory.mktemp("serve-tls12"), server_cert, "1.2") as port:
        yield port


@pytest.mark.slow
def test_serve_answers_over_tls13_with_hsts(default_server: int, ca: trustme.CA) -> None:
    answer = _get_healthz(default_server, _client(ca))
    assert answer.tls_version == "TLSv1.3"
    assert answer.status == 200
    assert answer.headers["strict-transport-security"].startswith("max-age=")


@pytest.mark.slow
def test_serve_refuses_a_tls12_client_by_default(default_server: int, ca: trustme.CA) -> None:
    with pytest.raises(ssl.SSLError):
        _get_healthz(default_server, _client(ca, only_tls12=True))


@pytest.mark.slow
def test_serve_accepts_tls12_when_configured(tls12_server: int, ca: trustme.CA) -> None:
    answer = _get_healthz(tls12_server, _client(ca, only_tls12=True))
    assert answer.tls_version == "TLSv1.2"
    assert answer.cipher is not None
    assert answer.cipher.startswith("ECDHE-")
    assert answer.status == 200
    assert "strict-transport-security" in answer.headers


@pytest.mark.slow
def test_serve_with_tls12_allowed_still_negotiates_tls13(tls12_server: int, ca: trustme.CA) -> None:
    assert _get_healthz(tls12_server, _client(ca)).tls_version == "TLSv1.3"
