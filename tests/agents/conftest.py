"""A knowledge base over a real database (both engines): two workspaces, their agents, the
keyring and the encrypted file store, as the server and the CLI use them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.knowledge.ingest import PreparedDocument, do_store_document, prepare_text
from hushdesk.agents.knowledge.search import KnowledgeIndexCache
from hushdesk.agents.models import Agent
from hushdesk.agents.service import access_agent_by_slug, do_create_agent
from hushdesk.audit.models import ActorKind
from hushdesk.crypto.columns import install_encryption
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.providers import LocalKeyProvider
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace

OPERATOR = Actor(ActorKind.OPERATOR, "os:test")
MAX_FILE = 20 * 1024 * 1024


@dataclass
class KnowledgeWorld:
    engine: Engine
    sessions: sessionmaker[Session]
    files: EncryptedFileStore
    uploads: Path
    cache: KnowledgeIndexCache
    workspace_id: uuid.UUID
    other_workspace_id: uuid.UUID

    def agent(self, session: Session, slug: str, *, workspace_id: uuid.UUID | None = None) -> Agent:
        return access_agent_by_slug(session, workspace_id=workspace_id or self.workspace_id, slug=slug)

    def store(
        self, slug: str, prepared: PreparedDocument, *, workspace_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        with unit_of_work(self.sessions) as session:
            agent = self.agent(session, slug, workspace_id=workspace_id)
            stored = do_store_document(
                session, agent, prepared, files=self.files, actor=OPERATOR, max_file_bytes=MAX_FILE
            )
            return stored.document.id

    def store_text(
        self, slug: str, source: str, text: str, *, workspace_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        return self.store(slug, prepare_text(source=source, text=text), workspace_id=workspace_id)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[KnowledgeWorld]:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    contact_keys = ContactKeyStore.open(f"sqlite:///{keys_dir / 'contact-keys.sqlite3'}")
    keyring = Keyring(provider=LocalKeyProvider.from_keys_dir(keys_dir), contact_keys=contact_keys)
    sessions = make_sessionmaker(engine)
    install_encryption(sessions, keyring)
    uploads = tmp_path / "uploads"
    with unit_of_work(sessions) as session:
        workspace = do_create_workspace(session, name="Acme", region=Region.EU)
        other = do_create_workspace(session, name="Other", region=Region.US)
        for workspace_id, name in ((workspace.id, "Support"), (workspace.id, "Sales"), (other.id, "Support")):
            agent = do_create_agent(session, workspace_id=workspace_id, name=name)
            do_record_first_version(session, agent, actor=OPERATOR)
        ids = (workspace.id, other.id)
    try:
        yield KnowledgeWorld(
            engine, sessions, EncryptedFileStore(uploads), uploads, KnowledgeIndexCache(), ids[0], ids[1]
        )
    finally:
        contact_keys.dispose()
