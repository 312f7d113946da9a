"""Building the huey instance that carries queue messages, from plain parameters.

- SQLite (embedded default): huey's ``SqliteStorage`` in its own file beside the database.
  Its tables have fixed, unprefixed names (``task``, ``schedule``, ``kv``) and it takes
  ``BEGIN EXCLUSIVE`` on every dequeue; a separate file keeps both out of our schema and
  keeps queue polling from competing with requests for the database's single write lock.
  The file holds nothing that must survive: the ``work_item`` rows are the truth.
- PostgreSQL: huey's ``PostgresStorage`` in the same database, in tables named ``huey_*``
  (``LISTEN/NOTIFY`` wakes workers at once; ``FOR UPDATE SKIP LOCKED`` shares the queue among
  machines). Migration 0002 creates those tables, under the migration lock, so that workers
  starting together do not race on DDL and the runtime role needs no DDL rights.

Messages are JSON (``JsonMessageSerializer``), never pickle. Results are not stored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from huey import Huey
from huey.storage import PostgresStorage, SqliteStorage
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import make_sessionmaker
from hushdesk.infra.jobs.handlers import Clock
from hushdesk.infra.jobs.queue import JobQueue
from hushdesk.infra.jobs.serializer import JsonMessageSerializer

QUEUE_NAME = "hushdesk"
POSTGRES_TABLE_PREFIX = "huey"
CONNECT_TIMEOUT_SECONDS = 10


def create_huey(*, engine: Engine, sqlite_queue_file: Path) -> Any:
    """A huey instance whose storage matches ``engine``'s database.

    On SQLite, creates ``sqlite_queue_file`` (and its folder, mode 0700) with huey's tables.
    On PostgreSQL, connects lazily with the engine's URL and expects migrated ``huey_*``
    tables. Raises ``ValueError`` for any other database."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        sqlite_queue_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        storage_options: dict[str, Any] = {
            "storage_class": SqliteStorage,
            "filename": str(sqlite_queue_file),
            "timeout": CONNECT_TIMEOUT_SECONDS,
        }
    elif dialect == "postgresql":
        storage_options = {
            "storage_class": PostgresStorage,
            "dsn": libpq_dsn(engine),
            "table_prefix": POSTGRES_TABLE_PREFIX,
            "create_tables": False,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        }
    else:
        raise ValueError(f"no job queue storage for {dialect!r}")
    return Huey(
        QUEUE_NAME,
        results=False,
        utc=True,
        serializer=JsonMessageSerializer(),
        **storage_options,
    )


def libpq_dsn(engine: Engine) -> str:
    """The engine's URL as psycopg takes it (no SQLAlchemy driver suffix), TLS options kept."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_job_queue(
    *,
    engine: Engine,
    sqlite_queue_file: Path,
    lease: dt.timedelta,
    worker_name: str | None = None,
    clock: Clock = utcnow,
    sessions: sessionmaker[Session] | None = None,
) -> JobQueue:
    """A job queue for ``engine``'s database with no handlers yet (see ``create_huey``).
    ``sessions`` are the sessions handlers get (the application's, with its keyring); by
    default plain sessions of ``engine``."""
    return JobQueue(
        huey=create_huey(engine=engine, sqlite_queue_file=sqlite_queue_file),
        sessions=sessions or make_sessionmaker(engine),
        lease=lease,
        worker_name=worker_name,
        clock=clock,
    )
