"""A user who is a member of the vault's workspace, on each engine."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from hushdesk.identity.models import Membership, Role, User
from hushdesk.infra.db.uow import unit_of_work
from tests.crypto.conftest import Vault, vault  # noqa: F401 - the fixture is reused here


@dataclass(frozen=True)
class Member:
    vault: Vault
    user_id: uuid.UUID
    workspace_id: uuid.UUID


@pytest.fixture
def member(vault: Vault) -> Member:  # noqa: F811 - the parameter is the imported fixture
    with unit_of_work(vault.sessions) as session:
        user = User(email="ada@example.com", display_name="Ada", password_hash="not-used-here")
        session.add(user)
        session.flush()
        session.add(Membership(workspace_id=vault.workspace_id, user_id=user.id, role=Role.OWNER.value))
        return Member(vault=vault, user_id=user.id, workspace_id=vault.workspace_id)
