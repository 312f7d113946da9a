"""A workspace on each engine, helpers that tamper with the log behind the service's back, and
logging put back after CLI commands configure it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.audit.chain import EventFields, event_hash
from hushdesk.audit.models import ActorKind, AuditEvent
from hushdesk.audit.service import do_record_event
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Region
from hushdesk.workspaces.service import do_create_workspace
from tests.logging_support import restored_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    with restored_logging():
        yield


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def workspace_id(sessions: sessionmaker[Session]) -> uuid.UUID:
    with unit_of_work(sessions) as session:
        return do_create_workspace(session, name="Acme", region=Region.EU).id


def record(sessions: sessionmaker[Session], workspace_id: uuid.UUID | None, count: int) -> None:
    for number in range(count):
        with unit_of_work(sessions) as session:
            do_record_event(
                session,
                workspace_id=workspace_id,
                actor_kind=ActorKind.OPERATOR,
                actor_id=None,
                action="keys.rotate_master",
                target_kind="kek",
                target_id=f"kek-{number}",
                data={"rewrapped": number},
            )


def events(sessions: sessionmaker[Session], chain: str) -> list[AuditEvent]:
    with unit_of_work(sessions) as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq))
        )


def execute(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(sql), params)


def rehash_from(engine: Engine, sessions: sessionmaker[Session], chain: str, seq: int) -> None:
    """What an attacker with database access does after an edit: recompute every hash from
    ``seq`` on so that each link is valid again."""
    previous = {event.seq: event for event in events(sessions, chain)}
    prev_hash = previous[seq - 1].hash if seq > 1 else bytes(32)
    for number in sorted(n for n in previous if n >= seq):
        fields = EventFields.of(previous[number])
        fields = EventFields(**{**{f: getattr(fields, f) for f in fields.__slots__}, "prev_hash": prev_hash})
        new_hash = event_hash(fields)
        execute(
            engine,
            "UPDATE audit_event SET prev_hash = :prev, hash = :hash WHERE chain = :chain AND seq = :seq",
            prev=prev_hash,
            hash=new_hash,
            chain=chain,
            seq=number,
        )
        prev_hash = new_hash
