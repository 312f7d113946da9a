"""Engines for the two supported databases.

SQLite (the embedded default) runs in WAL mode with foreign keys enforced and a busy timeout,
so the web process and an in-process worker can share the file. PostgreSQL goes through
psycopg 3; production requires ``sslmode=verify-full`` in the URL (see settings).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "hushdesk_read_only"


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
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
            # Statement parameters never reach logs or error messages: they hold names, emails
            # and sealed values.
            hide_parameters=True,
        )
        _postgres_read_only(engine)
        return engine
    raise ValueError(f"unsupported database: {backend!r} (use sqlite or postgresql)")


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        # As for PostgreSQL: twice the requests the web tier admits at once (web.db_gate).
        pool_size=10,
        max_overflow=10,
        hide_parameters=True,
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
        if is_read_only(connection):
            # A plain (deferred) BEGIN takes no lock: in WAL mode any number of readers run
            # beside the one writer, on a consistent snapshot.
            connection.exec_driver_sql("BEGIN")
        else:
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue on busy_timeout
            # instead of failing with "database is locked" when a read upgrades to a write.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that only read: a deferred BEGIN on SQLite,
    ``SET TRANSACTION READ ONLY`` on PostgreSQL, so an accidental write fails loudly."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def is_read_only(connection: Connection) -> bool:
    return bool(connection.get_execution_options().get(READ_ONLY_OPTION, False))


def _postgres_read_only(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        if is_read_only(connection):
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
