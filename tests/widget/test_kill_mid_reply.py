"""The server killed while the agent is answering a widget message: after a restart the reply is
stored exactly once and reaches the visitor, who reconnects with the token they already had.

Real processes on the embedded default (SQLite, jobs inside the server): ``python -m hushdesk
serve`` is started on loopback with its data and keys prepared by the test; the agent's
OpenAI-compatible model is ``HangingModelServer`` on 127.0.0.1 (allowed past the SSRF guard by
HUSHDESK_OUTBOUND_ALLOWED_NETWORKS). Its first request hangs, so SIGKILL lands while the reply
job is waiting on the model; the restarted server's startup sweep finds the job, whose 3-second
lease has run out, and runs it again.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.config import do_record_first_version
from hushdesk.agents.knowledge.ingest import do_store_document, prepare_text
from hushdesk.agents.provider_setup import ProviderChoice, do_set_provider
from hushdesk.agents.providers.registry import check_provider_settings
from hushdesk.agents.service import do_create_agent
from hushdesk.bootstrap import build_keyring, encrypted_sessions, prepare_folders
from hushdesk.conversations.models import Message
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.migrate import upgrade_to_head
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.settings import Settings
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import NAME_CACHE
from tests.widget.conftest import OPERATOR, REFUNDS, SHOP
from tests.widget.slow_provider import HangingModelServer

LEASE_SECONDS = 3
START_SECONDS = 45.0
WAIT_SECONDS = 60.0
API_KEY = "sk-selfhosted-Hk3pV9wQ6zL2"
QUESTION = "How many business days until refunds are paid back?"
ANSWER = ("Refunds are paid back within 5 business days ", "after we receive the returned item [1].")
# Longer than the server's 15-second keep-alive, so an idle but healthy stream never times out.
STREAM_TIMEOUT = httpx.Timeout(5.0, read=20.0)


def _settings(workdir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=workdir / "var", keys_dir=workdir / "keys", cache_dir=NAME_CACHE)


def _prepare_installation(workdir: Path, *, model_url: str) -> str:
    """Migrate the embedded database and create a workspace whose agent knows about refunds,
    is embedded on shop.example.com and answers through the model at ``model_url`` with an API
    key from the secret store. Returns the agent's widget key."""
    settings = _settings(workdir)
    prepare_folders(settings)
    engine = create_db_engine(settings.resolved_database_url)
    keyring = build_keyring(settings)
    try:
        upgrade_to_head(engine)
        with unit_of_work(encrypted_sessions(engine, keyring)) as session:
            workspace = do_create_workspace(session, name="Acme", region=Region.EU)
            agent = do_create_agent(session, workspace_id=workspace.id, name="Support")
            agent.allowed_domains = ["shop.example.com"]
            do_record_first_version(session, agent, actor=OPERATOR)
            do_store_document(
                session,
                agent,
                prepare_text(source="help.md", text=REFUNDS),
                files=EncryptedFileStore(settings.uploads_dir),
                actor=OPERATOR,
                max_file_bytes=2**20,
            )
            provider = check_provider_settings(
                kind="openai-compatible", model="llama-3.1-8b", base_url=model_url
            )
            choice = ProviderChoice(settings=provider, api_key=SecretStr(API_KEY), acknowledged=True)
            do_set_provider(session, agent, choice, workspace_region="eu", actor=OPERATOR)
            return agent.widget_key
    finally:
        keyring.contact_keys.dispose()
        engine.dispose()


def _free_port() -> int:
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Servers:
    """``hushdesk serve`` processes, one at a time, on the same port and data; none outlives
    the test."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[BinaryIO] = []
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("HUSHDESK_")}
        self.env |= {
            "PYTHONUNBUFFERED": "1",
            "HUSHDESK_DATA_DIR": str(workdir / "var"),
            "HUSHDESK_KEYS_DIR": str(workdir / "keys"),
            "HUSHDESK_CACHE_DIR": str(NAME_CACHE),
            "HUSHDESK_HOST": "127.0.0.1",
            "HUSHDESK_PORT": str(self.port),
            "HUSHDESK_ALLOWED_HOSTS": "127.0.0.1",
            # The fake model listens on loopback, which the SSRF guard refuses unless allowed.
            "HUSHDESK_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32",
            "HUSHDESK_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            # One job thread: while it waits on the model, no other thread of the same process
            # can take the job over when its short lease ends (the minute tick sweeps).
            "HUSHDESK_JOB_WORKERS": "1",
        }

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes) + 1
        out = (self.workdir / f"server-{number}.log").open("wb")
        self._logs.append(out)
        process = subprocess.Popen(
            [sys.executable, "-m", "hushdesk", "serve"],
            cwd=self.workdir,  # no stray .env from the repository
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        self._wait_until_healthy(process)
        return process

    def _wait_until_healthy(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        pytest.fail(f"the server did not answer /healthz (exit status {process.poll()}):\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + path.read_text(errors="replace")[-6000:]
            for path in sorted(self.workdir.glob("server-*.log"))
        )

    def logged_errors(self, number: int) -> list[str]:
        lines = (self.workdir / f"server-{number}.log").read_text(errors="replace").splitlines()
        return [line for line in lines if '"level": "error"' in line or "Traceback" in line]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        for log in self._logs:
            log.close()


@pytest.fixture
def model() -> Iterator[HangingModelServer]:
    with HangingModelServer(*ANSWER) as server:
        yield server


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    running = Servers(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


@dataclass
class Visitor:
    """The widget in a browser on shop.example.com, speaking HTTP to the server."""

    client: httpx.Client
    widget_key: str
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def start(self) -> None:
        opened = self.client.post(
            "/widget/v1/sessions", json={"agent": self.widget_key}, headers={"origin": SHOP}
        )
        assert opened.status_code == 200, opened.text
        exchanged = self.client.post(
            "/widget/v1/session/exchange", json={"bootstrap": opened.json()["bootstrap"]}
        )
        assert exchanged.status_code == 200, exchanged.text
        state = exchanged.json()
        self.token = state["token"]
        consent = self.client.post(
            "/widget/v1/consent", json={"version": state["consent"]["version"]}, headers=self.auth
        )
        assert consent.status_code == 204, consent.text

    def say(self, text: str) -> dict[str, Any]:
        sent = self.client.post(
            "/widget/v1/messages", json={"client_id": str(uuid.uuid4()), "text": text}, headers=self.auth
        )
        assert sent.status_code == 202, sent.text
        message: dict[str, Any] = sent.json()["message"]
        return message


def _sse_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a server-sent event stream as they arrive, and ("", {}) for
    each comment (the server's keep-alive), so that a reader can look at the clock."""
    name, data = "", ""
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "", {}
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif not line and name:
            yield name, json.loads(data)
            name, data = "", ""


def _read_until(
    events: Iterator[tuple[str, dict[str, Any]]], wanted: tuple[str, str], *, deadline: float
) -> list[tuple[str, dict[str, Any]]]:
    """Events up to and including the first ``wanted`` one: ("message", author) or
    ("status", state). Fails once ``deadline`` has passed (looked at on every event and
    keep-alive; the stream's read timeout bounds the wait for the next one)."""
    seen: list[tuple[str, dict[str, Any]]] = []
    for name, data in events:
        if name:
            seen.append((name, data))
            key = data.get("author") if name == "message" else data.get("state")
            if (name, key) == wanted:
                return seen
        if time.monotonic() > deadline:
            break
    pytest.fail(f"no {wanted} event by the deadline; saw {seen}")


def _conversation_messages(sessions: sessionmaker[Session]) -> list[tuple[str, str, str | None]]:
    with unit_of_work(sessions) as session:
        return [
            (m.author, m.body, m.reply_state) for m in session.scalars(select(Message).order_by(Message.seq))
        ]


def _reply_job(sessions: sessionmaker[Session]) -> WorkItem:
    with unit_of_work(sessions) as session:
        item = session.scalars(select(WorkItem).where(WorkItem.kind == "conversation-reply")).one()
        session.expunge(item)
        return item


@pytest.mark.slow
def test_a_reply_cut_short_by_a_killed_server_is_stored_once_and_delivered_after_restart(
    tmp_path: Path, model: HangingModelServer, servers: Servers
) -> None:
    widget_key = _prepare_installation(tmp_path, model_url=model.base_url)
    first = servers.start()
    with httpx.Client(base_url=servers.base_url, timeout=10.0) as client:
        visitor = Visitor(client, widget_key)
        visitor.start()

        with client.stream(
            "GET", "/widget/v1/events?after=0", headers=visitor.auth, timeout=STREAM_TIMEOUT
        ) as live:
            assert live.status_code == 200
            sent = visitor.say(QUESTION)
            stream = _sse_events(live)
            before = _read_until(stream, ("status", "typing"), deadline=time.monotonic() + WAIT_SECONDS)
            assert ("message", sent) in before, "the visitor's own message came back as stored"
            assert model.first_request.wait(WAIT_SECONDS), f"the model was never called:\n{servers.logs()}"
            # The reply is in flight: the job waits on the model. Pull the plug.
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
            with pytest.raises(httpx.TransportError):
                for _ in stream:
                    pass  # the visitor's stream breaks with the server

    [asked] = model.requests
    assert asked.authorization == f"Bearer {API_KEY}"
    assert QUESTION in asked.sent_text()

    settings = _settings(tmp_path)
    engine = create_db_engine(settings.resolved_database_url)
    keyring = build_keyring(settings)
    try:
        sessions = encrypted_sessions(engine, keyring)
        assert _conversation_messages(sessions) == [("customer", QUESTION, "pending")]
        killed = _reply_job(sessions)
        assert (killed.state, killed.attempts) == ("running", 1)
        assert killed.claimed_by is not None
        assert killed.claimed_by.endswith(f":{first.pid}")

        restarted_at = time.monotonic()
        servers.start()
        with httpx.Client(base_url=servers.base_url, timeout=10.0) as client:
            # The widget reconnects after the last message it saw, with the token it already
            # had (it lives 15 minutes and survives the restart).
            after = sent["seq"]
            with client.stream(
                "GET", f"/widget/v1/events?after={after}", headers=visitor.auth, timeout=STREAM_TIMEOUT
            ) as resumed:
                assert resumed.status_code == 200, resumed.read()
                events = _read_until(
                    _sse_events(resumed), ("message", "assistant"), deadline=restarted_at + WAIT_SECONDS
                )
        reply = events[-1][1]
        assert reply["text"] == "".join(ANSWER)
        assert reply["seq"] == after + 1
        assert reply["citations"] == [{"title": "Refunds", "source": "help.md"}]
        deltas = "".join(
            data["text"] for name, data in events if name == "delta" and data["message_id"] == reply["id"]
        )
        assert deltas == reply["text"]
        assert not [data for name, data in events if name == "message" and data["author"] == "customer"]

        assert _conversation_messages(sessions) == [
            ("customer", QUESTION, "answered"),
            ("assistant", "".join(ANSWER), None),
        ]
        done = _reply_job(sessions)
        assert (done.state, done.attempts) == ("done", 2)
        assert done.claimed_by is not None
        assert done.claimed_by.endswith(f":{servers.processes[-1].pid}")
        assert len(model.requests) == 2, "the restarted server asked the model once more, and only once"
        assert QUESTION in model.requests[1].sent_text()
    finally:
        keyring.contact_keys.dispose()
        engine.dispose()
    servers.stop_all()
    assert servers.logged_errors(2) == [], servers.logs()
