"""Engines for the two supported databases.

SQLite (the embedded default) runs in WAL mode with foreign keys enforced and a busy timeout,
so the web process and an in-process worker can share the file. PostgreSQL goes through
psycopg 3; production requires ``sslmode=verify-full`` in the URL (see settings).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_db_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create the engine for ``url`` (``sqlite:///path`` or ``postgresql://...``).

    Raises ``ValueError`` for any other database kind.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
        )
    raise ValueError(f"unsupported database: {backend!r} (use sqlite or postgresql)")


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT;
        # let SQLAlchemy emit BEGIN itself (see "Serializable isolation / Savepoints").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout
        # instead of failing with "database is locked" when a read upgrades to a write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
