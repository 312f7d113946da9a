"""Fixtures for the encryption tests: a keyring over a real database (both engines), the
local key provider in a private keys folder, and the contact key store beside it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.crypto.columns import install_encryption
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.providers import LocalKeyProvider
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.crypto.encrypted_models import FixtureBase


@dataclass
class Vault:
    """Everything a test of encrypted storage needs."""

    engine: Engine
    keys_dir: Path
    provider: LocalKeyProvider
    contact_keys: ContactKeyStore
    keyring: Keyring
    sessions: sessionmaker[Session]
    workspace_id: uuid.UUID
    other_workspace_id: uuid.UUID

    def fresh_keyring_sessions(self) -> sessionmaker[Session]:
        """Sessions with a new keyring (empty cache), as another process would have."""
        keyring = Keyring(
            provider=LocalKeyProvider.from_keys_dir(self.keys_dir), contact_keys=self.contact_keys
        )
        sessions = make_sessionmaker(self.engine)
        install_encryption(sessions, keyring)
        return sessions


@pytest.fixture
def vault(engine: Engine, tmp_path: Path) -> Iterator[Vault]:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    provider = LocalKeyProvider.from_keys_dir(keys_dir)
    contact_keys = ContactKeyStore.open(f"sqlite:///{keys_dir / 'contact-keys.sqlite3'}")
    keyring = Keyring(provider=provider, contact_keys=contact_keys)
    sessions = make_sessionmaker(engine)
    install_encryption(sessions, keyring)
    FixtureBase.metadata.create_all(engine)
    with unit_of_work(make_sessionmaker(engine)) as session:
        workspace_id = do_create_workspace(session, name="Acme", region=Region.EU).id
        other_workspace_id = do_create_workspace(session, name="Other", region=Region.EU).id
    try:
        yield Vault(
            engine, keys_dir, provider, contact_keys, keyring, sessions, workspace_id, other_workspace_id
        )
    finally:
        contact_keys.dispose()
        FixtureBase.metadata.drop_all(engine)
