"""An agent's identity secret: made anew and returned once, stored sealed, the old one
refused from then on, removed on request, audited without the secret (both engines)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.models import Agent
from hushdesk.agents.service import do_create_agent
from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.channels.widget.identity import (
    SECRET_PREFIX,
    InvalidIdentityTokenError,
    sign_identity_token,
    verify_identity_token,
)
from hushdesk.channels.widget.identity_secret import (
    REMOVED,
    ROTATED,
    do_remove_identity_secret,
    do_rotate_identity_secret,
    has_identity_secret,
)
from hushdesk.crypto.columns import install_encryption
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.providers import LocalKeyProvider
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace

OPERATOR = Actor(ActorKind.OPERATOR, "os:test")
PERSON = Actor(ActorKind.USER, str(uuid.uuid4()))


@dataclass
class World:
    engine: Engine
    sessions: sessionmaker[Session]
    agent_id: uuid.UUID

    def agent(self, session: Session) -> Agent:
        return session.get_one(Agent, self.agent_id)

    def events(self, action: str) -> list[AuditEvent]:
        with unit_of_work(self.sessions) as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))

    def raw_secret_columns(self) -> list[bytes | None]:
        """The column as stored, read without the keyring."""
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT identity_secret FROM agent"))]


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir(mode=0o700)
    contact_keys = ContactKeyStore.open(f"sqlite:///{keys_dir / 'contact-keys.sqlite3'}")
    keyring = Keyring(provider=LocalKeyProvider.from_keys_dir(keys_dir), contact_keys=contact_keys)
    sessions = make_sessionmaker(engine)
    install_encryption(sessions, keyring)
    with unit_of_work(sessions) as session:
        workspace = do_create_workspace(session, name="Acme", region=Region.EU)
        agent = do_create_agent(session, workspace_id=workspace.id, name="Support")
        do_record_first_version(session, agent, actor=OPERATOR)
        agent_id = agent.id
    try:
        yield World(engine, sessions, agent_id)
    finally:
        contact_keys.dispose()


def _rotate(world: World, actor: Actor = PERSON) -> str:
    with unit_of_work(world.sessions) as session:
        return do_rotate_identity_secret(session, world.agent(session), actor=actor)


def _stored(world: World) -> str | None:
    with unit_of_work(world.sessions) as session:
        return world.agent(session).identity_secret


def _token(secret: str) -> str:
    return sign_identity_token(secret=secret, user_id="customer-7", now=dt.datetime.now(dt.UTC))


def test_a_new_secret_is_returned_and_stored_sealed(world: World) -> None:
    secret = _rotate(world)
    assert secret.startswith(SECRET_PREFIX)
    assert _stored(world) == secret
    (raw,) = world.raw_secret_columns()
    assert raw is not None
    stored = bytes(raw)
    assert secret.encode() not in stored
    assert secret.removeprefix(SECRET_PREFIX).encode() not in stored


def test_the_new_secret_verifies_and_the_old_one_no_longer_does(world: World) -> None:
    old = _rotate(world)
    old_token = _token(old)
    new = _rotate(world)
    assert new != old
    current = _stored(world)
    assert current is not None
    assert (
        verify_identity_token(_token(new), secret=current, now=dt.datetime.now(dt.UTC)).user_id
        == "customer-7"
    )
    with pytest.raises(InvalidIdentityTokenError):
        verify_identity_token(old_token, secret=current, now=dt.datetime.now(dt.UTC))


def test_rotation_is_audited_without_the_secret(world: World) -> None:
    first = _rotate(world)
    second = _rotate(world, actor=OPERATOR)
    events = world.events(ROTATED)
    assert [event.data for event in events] == [{"replaced": False}, {"replaced": True}]
    assert [(event.actor_kind, event.actor_id) for event in events] == [
        ("user", PERSON.id),
        ("operator", OPERATOR.id),
    ]
    assert {event.target_id for event in events} == {str(world.agent_id)}
    for event in events:
        flat = repr(event.data)
        assert first not in flat
        assert second not in flat


def test_rotation_is_not_a_configuration_version(world: World) -> None:
    _rotate(world)
    with unit_of_work(world.sessions) as session:
        assert world.agent(session).config_version == 1
    assert world.events("agent.config.updated") == []


def test_removing_the_secret_turns_verification_off_once(world: World) -> None:
    _rotate(world)
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session)
        assert has_identity_secret(agent)
        assert do_remove_identity_secret(session, agent, actor=PERSON) is True
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session)
        assert not has_identity_secret(agent)
        assert do_remove_identity_secret(session, agent, actor=PERSON) is False
    assert world.raw_secret_columns() == [None]
    assert [event.data for event in world.events(REMOVED)] == [{}]


def test_a_rolled_back_rotation_keeps_the_previous_secret(world: World) -> None:
    kept = _rotate(world)
    with pytest.raises(RuntimeError), unit_of_work(world.sessions) as session:
        do_rotate_identity_secret(session, world.agent(session), actor=PERSON)
        raise RuntimeError("the request failed after the rotation")
    assert _stored(world) == kept
    assert len(world.events(ROTATED)) == 1
