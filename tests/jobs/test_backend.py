"""Queue storage and messages: JSON on the wire, the right storage per engine, readiness."""

from __future__ import annotations

import datetime as dt
import importlib
import pickle
import uuid
from pathlib import Path

import pytest
from huey.registry import Message
from huey.storage import PostgresStorage
from sqlalchemy import Engine, inspect

from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.jobs.backend import create_job_queue, libpq_dsn
from hushdesk.infra.jobs.queue import JobQueue
from hushdesk.infra.jobs.serializer import JsonMessageSerializer, UnsupportedMessageError

SERIALIZER = JsonMessageSerializer()


def test_messages_are_json_and_round_trip() -> None:
    eta = dt.datetime(2026, 1, 2, 3, 4, 5)  # noqa: DTZ001 - huey keeps naive UTC
    message = Message(
        "id-1", "hushdesk.infra.jobs.queue.work", eta, 0, 0, None, ("0190-abc",), {}, retry_backoff=0
    )
    data = SERIALIZER.serialize(message)
    assert data.startswith(b"{")
    assert SERIALIZER.deserialize(data) == message


def test_pickled_or_foreign_data_is_refused() -> None:
    with pytest.raises(ValueError):
        SERIALIZER.deserialize(pickle.dumps({"a": 1}))
    with pytest.raises(UnsupportedMessageError):
        SERIALIZER.deserialize(b'{"name": "os.system"}')
    with pytest.raises(UnsupportedMessageError):
        SERIALIZER.serialize(("not", "a", "message"))


def test_pipelines_and_rich_arguments_are_not_carried() -> None:
    inner = Message("id-2", "t")
    with pytest.raises(UnsupportedMessageError, match="on_complete"):
        SERIALIZER.serialize(Message("id-1", "t", None, 0, 0, None, (), {}, on_complete=inner))
    with pytest.raises(UnsupportedMessageError, match="scalars"):
        SERIALIZER.serialize(Message("id-1", "t", None, 0, 0, None, ({"text": "x"},), {}))


def test_stored_messages_are_json(queue: JobQueue) -> None:
    queue.push(uuid.uuid4())
    (raw,) = queue.huey.storage.enqueued_items()
    assert bytes(raw).startswith(b"{")


@pytest.mark.postgres
def test_postgres_queue_tables_come_from_the_migration(postgres_engine: Engine) -> None:
    tables = set(inspect(postgres_engine).get_table_names())
    assert {"huey_kv", "huey_schedule", "huey_task", "huey_counter"} <= tables


def test_the_migration_creates_the_tables_the_installed_huey_expects() -> None:
    migration = importlib.import_module("hushdesk.migrations.versions.0002_work_item")
    storage = PostgresStorage(name="hushdesk", table_prefix="huey", create_tables=False)
    assert tuple(storage.ddl) == migration.HUEY_POSTGRES_DDL


def test_the_postgres_dsn_keeps_tls_options_and_drops_the_driver() -> None:
    engine = create_db_engine("postgresql://app:p%40ss@db.internal:5432/hushdesk?sslmode=verify-full")
    try:
        assert libpq_dsn(engine) == "postgresql://app:p%40ss@db.internal:5432/hushdesk?sslmode=verify-full"
    finally:
        engine.dispose()


def test_readiness_fails_when_the_queue_storage_is_unreachable(tmp_path: Path) -> None:
    engine = create_db_engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
    queue = create_job_queue(
        engine=engine, sqlite_queue_file=tmp_path / "unused", lease=dt.timedelta(seconds=5)
    )
    try:
        with pytest.raises(Exception) as raised:
            queue.ping()
        assert type(raised.value).__name__ == "OperationalError"
    finally:
        engine.dispose()
