"""Helpers for the API tests: principals, keys and a second workspace, made through the services
with the app's own sessionmaker."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy import select

from hushdesk.agents.service import do_create_agent
from hushdesk.identity.api_keys import do_create_api_key
from hushdesk.identity.models import Membership, Role, User
from hushdesk.identity.passwords import hash_password
from hushdesk.identity.permissions import Permission
from hushdesk.identity.principal import Principal, user_principal
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.web.helpers import MEMBER_PASSWORD, OWNER_EMAIL, app_sessions


@dataclass(frozen=True, slots=True)
class MadeKey:
    id: uuid.UUID
    token: str
    workspace_id: uuid.UUID


def principal_of(client: TestClient, *, email: str = OWNER_EMAIL) -> Principal:
    """The principal of the account's first membership."""
    with unit_of_work(app_sessions(client)) as session:
        membership = session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email.strip().lower())
            .order_by(Membership.created_at)
        ).first()
        assert membership is not None
        return user_principal(
            workspace_id=membership.workspace_id,
            user_id=membership.user_id,
            membership_id=membership.id,
            role=membership.role,
        )


def make_key(
    client: TestClient,
    creator: Principal,
    scopes: Iterable[Permission | str],
    *,
    expires_at: dt.datetime | None = None,
    name: str = "integration",
) -> MadeKey:
    with unit_of_work(app_sessions(client)) as session:
        made = do_create_api_key(
            session,
            creator=creator,
            name=name,
            scopes=[str(scope) for scope in scopes],
            expires_at=expires_at or utcnow() + dt.timedelta(days=30),
        )
        return MadeKey(id=made.key.id, token=made.token, workspace_id=made.key.workspace_id)


def make_agent(client: TestClient, principal: Principal, *, name: str = "Front desk") -> uuid.UUID:
    with unit_of_work(app_sessions(client)) as session:
        return do_create_agent(session, workspace_id=principal.workspace_id, name=name).id


def make_other_workspace(client: TestClient, *, email: str = "bea@example.org") -> Principal:
    """A second workspace with its own owner; returns the owner's principal."""
    with unit_of_work(app_sessions(client)) as session:
        workspace = do_create_workspace(session, name="Other Business", region=Region.US)
        user = User(email=email, display_name="Bea Owner", password_hash=hash_password(MEMBER_PASSWORD))
        session.add(user)
        session.flush()
        session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.OWNER.value))
        session.flush()
    return principal_of(client, email=email)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept": "application/json"}
