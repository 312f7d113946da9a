"""Read-only transactions: page views take no write lock, and cannot write."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from hushdesk.infra.db.engine import read_only
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.workspaces.models import Region, Workspace
from hushdesk.workspaces.service import do_create_workspace


def test_a_reader_runs_while_a_writer_holds_the_lock(engine: Engine) -> None:
    with unit_of_work(make_sessionmaker(engine)) as setup:
        do_create_workspace(setup, name="Acme", region=Region.EU)
    with unit_of_work(make_sessionmaker(engine)) as writer:
        do_create_workspace(writer, name="Beta", region=Region.EU)  # holds the write lock
        with unit_of_work(make_sessionmaker(read_only(engine))) as reader:
            names = list(reader.scalars(select(Workspace.name)))
    assert names == ["Acme"]


@pytest.mark.postgres
def test_a_read_only_transaction_cannot_write_on_postgres(postgres_engine: Engine) -> None:
    with (
        pytest.raises(DBAPIError, match="read-only transaction"),
        unit_of_work(make_sessionmaker(read_only(postgres_engine))) as reader,
    ):
        do_create_workspace(reader, name="Sneaky", region=Region.US)


def test_writes_take_the_lock_at_begin_on_sqlite(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as first, first.begin(), sqlite_engine.connect() as second:
        # Straight to the driver: a statement through SQLAlchemy would begin a transaction.
        raw = second.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA busy_timeout=50")
        with pytest.raises(OperationalError, match="locked"), second.begin():
            second.execute(text("SELECT 1"))
        with read_only(sqlite_engine).connect() as reader, reader.begin():
            assert reader.execute(text("SELECT 1")).scalar() == 1
