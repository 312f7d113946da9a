"""Engine settings that the rest of the code relies on."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from hushdesk.identity.models import Membership
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.uow import make_sessionmaker, transaction_open, unit_of_work
from hushdesk.workspaces.models import Region, Workspace
from hushdesk.workspaces.service import do_create_workspace


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with pytest.raises(IntegrityError), unit_of_work(sessions) as session:
        session.add(Membership(workspace_id=uuid.uuid4(), user_id=uuid.uuid4(), role="owner"))
        session.flush()


def test_primary_keys_are_uuid7_made_before_insert(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        workspace = Workspace(name="Acme", slug="acme", region=Region.EU.value)
        assert workspace.id is None or isinstance(workspace.id, uuid.UUID)
        session.add(workspace)
        session.flush()
        assert workspace.id.version == 7
    with unit_of_work(sessions) as session:
        stored = session.scalars(select(Workspace)).one()
        assert stored.id == workspace.id


def test_datetimes_come_back_timezone_aware_utc(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        do_create_workspace(session, name="Acme", region=Region.US)
    with unit_of_work(sessions) as session:
        created = session.scalars(select(Workspace)).one().created_at
    assert created.tzinfo is not None
    assert created.utcoffset() == dt.timedelta(0)


def test_naive_datetimes_are_refused(sqlite_engine: Engine) -> None:
    sessions = make_sessionmaker(sqlite_engine)
    with pytest.raises(StatementError, match="naive datetimes"), unit_of_work(sessions) as session:
        session.add(Workspace(name="Acme", slug="acme", region="eu", created_at=dt.datetime(2026, 1, 1)))  # noqa: DTZ001
        session.flush()


def test_unit_of_work_commits_on_success_and_rolls_back_on_error(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
        do_create_workspace(session, name="Lost", region=Region.EU)
        raise RuntimeError("boom")
    with unit_of_work(sessions) as session:
        do_create_workspace(session, name="Kept", region=Region.EU)
    with unit_of_work(sessions) as session:
        assert [w.name for w in session.scalars(select(Workspace))] == ["Kept"]


def test_transaction_open_is_true_only_inside_a_unit_of_work(sqlite_engine: Engine) -> None:
    sessions = make_sessionmaker(sqlite_engine)
    assert not transaction_open()
    with unit_of_work(sessions) as session:
        session.execute(text("SELECT 1"))
        assert transaction_open()
    assert not transaction_open()


def test_workspace_slugs_stay_unique(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with unit_of_work(sessions) as session:
        first = do_create_workspace(session, name="Café Ünïcode!", region=Region.AF)
        second = do_create_workspace(session, name="Cafe unicode", region=Region.AF)
    assert first.slug == "cafe-unicode"
    assert second.slug == "cafe-unicode-2"


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        create_db_engine("mysql://localhost/x")
