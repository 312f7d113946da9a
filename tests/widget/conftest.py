"""A workspace with an agent that knows a little, embedded on shop.example.com, served by the
real app (TestClient) with jobs run by the test, and a visitor who talks to it."""

from __future__ import annotations

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
from hushdesk.agents.service import do_create_agent
from hushdesk.app import create_app
from hushdesk.audit.models import ActorKind
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.jobs.models import WorkItem, WorkState
from hushdesk.infra.jobs.queue import JobQueue, RunResult
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


def build_world(engine: Engine, tmp_path: Path, **overrides: Any) -> Iterator[WidgetWorld]:
    settings: Settings = make_settings(tmp_path, **overrides)
    app = create_app(settings, engine=engine)
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
def widget(engine: Engine, tmp_path: Path) -> Iterator[WidgetWorld]:
    yield from build_world(engine, tmp_path)
