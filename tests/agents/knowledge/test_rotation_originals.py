"""A workspace key rotation keeps knowledge originals readable: they are copied under the new
key before the retired one is destroyed (and, as the control shows, would be lost otherwise)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from hushdesk.agents.knowledge.ingest import file_binding, prepare_file
from hushdesk.agents.knowledge.models import KnowledgeDocument
from hushdesk.agents.knowledge.originals import reseal_originals
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.errors import KeyUnavailableError
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.reencrypt import data_key_tables, reencrypt_workspace
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.schema import mappers
from tests.agents.conftest import KnowledgeWorld

ORIGINAL = b"# Returns\n\nUnworn boots may be returned within 30 days.\n" * 200


def _rotate(world: KnowledgeWorld) -> uuid.UUID:
    """Retire the workspace's data key; returns its id."""
    with unit_of_work(world.sessions) as session:
        keyring: Keyring = session.info[KEYRING_INFO_KEY]
        retiring = keyring.data_key_for_writing(session, workspace_id=world.workspace_id).id
        keyring.rotate_workspace_key(session, workspace_id=world.workspace_id)
    return retiring


def _read_original(world: KnowledgeWorld) -> bytes:
    with unit_of_work(world.sessions) as session:
        document = session.scalars(select(KnowledgeDocument)).one()
        keyring: Keyring = session.info[KEYRING_INFO_KEY]
        with world.files.open(
            document.file_id or "",
            key=lambda found: keyring.key_for_reading(session, found),
            bound_to=file_binding(document),
        ) as reader:
            return b"".join(reader)


def _finish_rotation(world: KnowledgeWorld, key_id: uuid.UUID) -> None:
    report = reencrypt_workspace(
        world.sessions, tables=data_key_tables(mappers), workspace_id=world.workspace_id, key_id=key_id
    )
    assert report.key_destroyed


def _stored_files(world: KnowledgeWorld) -> int:
    return sum(1 for path in world.uploads.rglob("*") if path.is_file())


def test_originals_are_resealed_before_the_retired_key_is_destroyed(world: KnowledgeWorld) -> None:
    world.store("support", prepare_file(source="returns.md", filename="returns.md", content=ORIGINAL))
    retiring = _rotate(world)
    assert (
        reseal_originals(world.sessions, world.files, workspace_id=world.workspace_id, key_id=retiring) == 1
    )
    assert (
        reseal_originals(world.sessions, world.files, workspace_id=world.workspace_id, key_id=retiring) == 0
    )
    _finish_rotation(world, retiring)
    assert _read_original(world) == ORIGINAL
    assert _stored_files(world) == 1  # the copy under the old key is gone


def test_without_resealing_the_original_is_lost_with_the_key(world: KnowledgeWorld) -> None:
    world.store("support", prepare_file(source="returns.md", filename="returns.md", content=ORIGINAL))
    retiring = _rotate(world)
    _finish_rotation(world, retiring)
    with pytest.raises(KeyUnavailableError):
        _read_original(world)


def test_another_workspaces_originals_are_not_touched(world: KnowledgeWorld) -> None:
    world.store(
        "support",
        prepare_file(source="theirs.md", filename="theirs.md", content=ORIGINAL),
        workspace_id=world.other_workspace_id,
    )
    retiring = _rotate(world)
    assert (
        reseal_originals(world.sessions, world.files, workspace_id=world.workspace_id, key_id=retiring) == 0
    )
    assert _read_original(world) == ORIGINAL
