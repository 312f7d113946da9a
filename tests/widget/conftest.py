"""A workspace with an agent that knows a little, embedded on shop.example.com, served by the
real app (TestClient) with jobs run by the test, and a visitor who talks to it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.knowledge.ingest import do_store_document, prepare_text
from hushdesk.agents.models import Agent
from hushdesk.agents.runtime import LoadedOnce
from hushdesk.agents.service import do_create_agent
from hushdesk.app import create_app
from hushdesk.audit.models import ActorKind
from hushdesk.bootstrap import assistant_services
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.models import WorkItem, WorkState
from hushdesk.infra.jobs.queue import JobQueue, RunResult
from hushdesk.privacy.pii import Detector, NameLexicon
from hushdesk.settings import Settings
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.conftest import make_settings

OPERATOR = Actor(ActorKind.OPERATOR, "os:test")
SHOP = "https://shop.example.com"
REFUNDS = (
    "# Refunds\n\nRefunds are paid back within 5 business days after we receive the returned item. "
    "Keep the receipt: we need it to refund the original payment method.\n\n"
    "# Shipping\n\nOrders ship from our warehouse in Leeds within two working days."
)


@dataclass
class WidgetWorld:
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    widget_key: str
    other_widget_key: str

    @property
    def jobs(self) -> JobQueue:
        queue: JobQueue = self.app.state.jobs
        return queue

    def pending_work(self, kind: str = "conversation-reply") -> list[uuid.UUID]:
        with unit_of_work(self.sessions) as session:
            return list(
                session.scalars(
                    select(WorkItem.id)
                    .where(WorkItem.kind == kind, WorkItem.state == WorkState.PENDING.value)
                    .order_by(WorkItem.created_at)
                )
            )

    def run_replies(self) -> list[RunResult]:
        return [self.jobs.run_work_item(item_id) for item_id in self.pending_work()]

    def agent(self, session: Session) -> Agent:
        return session.get_one(Agent, self.agent_id)

    def visitor(self, origin: str = SHOP, **kwargs: Any) -> Visitor:
        return Visitor(self, origin=origin, **kwargs)


@dataclass
class Visitor:
    """A browser on ``origin``: the loader's session request, then the frame's calls."""

    world: WidgetWorld
    origin: str = SHOP
    user: str | None = None
    token: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Any:
        body: dict[str, Any] = {"agent": self.world.widget_key}
        if self.user:
            body["user"] = self.user
        return self.world.client.post("/widget/v1/sessions", json=body, headers={"origin": self.origin})

    def start(self, *, consent: bool = True) -> Visitor:
        opened = self.open()
        assert opened.status_code == 200, opened.text
        exchanged = self.world.client.post(
            "/widget/v1/session/exchange", json={"bootstrap": opened.json()["bootstrap"]}
        )
        assert exchanged.status_code == 200, exchanged.text
        self.state = exchanged.json()
        self.token = self.state["token"]
        if consent:
            accepted = self.post("/widget/v1/consent", json={"version": self.state["consent"]["version"]})
            assert accepted.status_code == 204, accepted.text
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.world.client.post(path, headers=self.auth, **kwargs)

    def say(self, text: str, client_id: uuid.UUID | None = None) -> Any:
        return self.post(
            "/widget/v1/messages", json={"client_id": str(client_id or uuid.uuid4()), "text": text}
        )

    def refresh(self) -> Any:
        response = self.post("/widget/v1/session/refresh")
        if response.status_code == 200:
            self.token = response.json()["token"]
        return response


def build_world(
    engine: Engine, tmp_path: Path, *, names: NameLexicon | None = None, **overrides: Any
) -> Iterator[WidgetWorld]:
    """The world on ``engine``. ``names`` (the session's name lists) spares each app the few
    seconds of reading them; without it the app reads them on first use, as in production."""
    settings: Settings = make_settings(tmp_path, **overrides)
    assistant = assistant_services(settings)
    if names is not None:
        lexicon = names
        assistant = dataclasses.replace(
            assistant, names=lambda: lexicon, detector=LoadedOnce(lambda: Detector(names=lexicon))
        )
    app = create_app(settings, engine=engine, assistant=assistant)
    sessions: sessionmaker[Session] = app.state.sessions
    files = EncryptedFileStore(settings.uploads_dir)
    with unit_of_work(sessions) as session:
        workspace = do_create_workspace(session, name="Acme", region=Region.EU)
        agent = do_create_agent(session, workspace_id=workspace.id, name="Support")
        agent.allowed_domains = ["shop.example.com", "*.acme.example"]
        do_record_first_version(session, agent, actor=OPERATOR)
        do_store_document(
            session,
            agent,
            prepare_text(source="help.md", text=REFUNDS),
            files=files,
            actor=OPERATOR,
            max_file_bytes=2**20,
        )
        other = do_create_workspace(session, name="Other", region=Region.EU)
        other_agent = do_create_agent(session, workspace_id=other.id, name="Other support")
        other_agent.allowed_domains = ["other.example.org"]
        do_record_first_version(session, other_agent, actor=OPERATOR)
        ids = (workspace.id, agent.id, agent.widget_key, other_agent.widget_key)
    try:
        with TestClient(app, base_url="http://testserver") as client:
            yield WidgetWorld(app, client, sessions, *ids)
    finally:
        app.state.jobs.close()


@pytest.fixture
def widget(engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    yield from build_world(engine, tmp_path, names=name_lexicon)


# ---- helpers for the widget API behaviour tests (test_sessions.py, test_messages.py, ...) ----


@pytest.fixture
def sqlite_widget(sqlite_engine: Engine, tmp_path: Path, name_lexicon: NameLexicon) -> Iterator[WidgetWorld]:
    """The same world on SQLite only, for behaviour of the HTTP layer that no engine changes."""
    yield from build_world(sqlite_engine, tmp_path, names=name_lexicon)


@dataclass
class KeyedVisitor(Visitor):
    """A visitor of any agent's widget (``widget_key``), such as the other workspace's."""

    widget_key: str = ""

    def open(self) -> Any:
        body: dict[str, Any] = {"agent": self.widget_key or self.world.widget_key}
        if self.user:
            body["user"] = self.user
        return self.world.client.post("/widget/v1/sessions", json=body, headers={"origin": self.origin})


def update_agent(world: WidgetWorld, **values: Any) -> None:
    """Set columns of the world's agent directly (what the dashboard would have saved)."""
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session)
        for name, value in values.items():
            setattr(agent, name, value)


def count_rows(world: WidgetWorld, model: type[Any]) -> int:
    with unit_of_work(world.sessions) as session:
        return len(session.scalars(select(model.id)).all())


@pytest.fixture(scope="module")
def module_sqlite_widget(
    tmp_path_factory: pytest.TempPathFactory, name_lexicon: NameLexicon
) -> Iterator[WidgetWorld]:
    from hushdesk.infra.db.engine import create_db_engine
    from hushdesk.infra.db.migrate import upgrade_to_head

    root = tmp_path_factory.mktemp("widget-shared")
    engine = create_db_engine(f"sqlite:///{root / 'var' / 'hushdesk.sqlite3'}")
    try:
        upgrade_to_head(engine)
        yield from build_world(engine, root, names=name_lexicon)
    finally:
        engine.dispose()


@pytest.fixture
def shared_widget(module_sqlite_widget: WidgetWorld) -> WidgetWorld:
    """One SQLite world shared by the tests of a module (one app, so its first-request warm-up
    is paid once), for tests whose writes do not matter to the others: they compare counts
    before and after. Rate-limit counters are cleared before each test."""
    module_sqlite_widget.app.state.rate_limiter.clear()
    return module_sqlite_widget


def tiny_png(marker: bytes = b"") -> bytes:
    """A valid 1x1 PNG; ``marker`` goes in a text chunk, so a scan can look for the file."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    text = chunk(b"tEXt", b"Comment\x00" + marker) if marker else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + text + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
