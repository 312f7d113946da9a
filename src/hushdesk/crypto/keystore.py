"""The contact key store: per-contact keys, wrapped, in a database of their own.

Everything a contact said and is (identifiers, message bodies) is sealed under that contact's
key. Erasing the contact deletes its key here, and the copies of its data in any backup of the
main database become unreadable (crypto-shredding). That only holds if an old backup of the
main database cannot bring the key back, so the keys live apart: on the embedded default a
SQLite file in the keys folder (``contact-keys.sqlite3``), in production a separate database
(``HUSHDESK_KEYSTORE_URL``), each with its own, short, backup rule (docs/operations.md).

On SQLite the file runs with ``secure_delete`` (deleted rows are overwritten with zeros) and a
rollback journal rather than WAL, so an erased key does not linger in free pages or in a
write-ahead log.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from hushdesk.infra.db.base import utcnow
from hushdesk.infra.ids import uuid7

_metadata = MetaData()
contact_key = Table(
    "contact_key",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("workspace_id", Uuid, nullable=False),
    Column("contact_id", Uuid, nullable=False, unique=True),
    Column("kek_id", String(2048), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("encryptions", BigInteger, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredContactKey:
    id: uuid.UUID
    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    kek_id: str
    wrapped: bytes


class ContactKeyStore:
    """Wrapped per-contact keys in their own database. Thread-safe; each call is its own short
    transaction (the store is not part of the main unit of work: a key created for a message
    that is then rolled back is harmless, an orphan key seals nothing)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        _metadata.create_all(engine)

    @classmethod
    def open(cls, url: str) -> ContactKeyStore:
        """Open (creating if needed) the store at ``url`` (``sqlite:///path`` or PostgreSQL)."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _private_file(Path(parsed.database))
            engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=DELETE")
                cursor.execute("PRAGMA secure_delete=ON")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.close()

            return cls(engine)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return cls(create_engine(parsed, pool_pre_ping=True))

    def get(self, contact_id: uuid.UUID) -> StoredContactKey | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(contact_key).where(contact_key.c.contact_id == contact_id)
            ).first()
        return None if row is None else _stored(row._mapping)

    def get_by_key_id(self, key_id: uuid.UUID) -> StoredContactKey | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(contact_key).where(contact_key.c.id == key_id)).first()
        return None if row is None else _stored(row._mapping)

    def add(
        self,
        *,
        workspace_id: uuid.UUID,
        contact_id: uuid.UUID,
        kek_id: str,
        wrapped: bytes,
        key_id: uuid.UUID,
    ) -> StoredContactKey:
        """Store a new key for ``contact_id``; if another process stored one first, return
        that one instead (one key per contact)."""
        with self._engine.begin() as connection:
            existing = connection.execute(
                select(contact_key).where(contact_key.c.contact_id == contact_id)
            ).first()
            if existing is not None:
                return _stored(existing._mapping)
            connection.execute(
                insert(contact_key).values(
                    id=key_id,
                    workspace_id=workspace_id,
                    contact_id=contact_id,
                    kek_id=kek_id,
                    wrapped=wrapped,
                    encryptions=0,
                    created_at=utcnow(),
                )
            )
        return StoredContactKey(key_id, workspace_id, contact_id, kek_id, wrapped)

    def count_encryptions(self, key_id: uuid.UUID, count: int) -> int:
        """Add ``count`` to the key's encryption counter; return the new total."""
        with self._engine.begin() as connection:
            connection.execute(
                update(contact_key)
                .where(contact_key.c.id == key_id)
                .values(encryptions=contact_key.c.encryptions + count)
            )
            total = connection.execute(
                select(contact_key.c.encryptions).where(contact_key.c.id == key_id)
            ).scalar()
        return int(total or 0)

    def rewrap(self, key_id: uuid.UUID, *, kek_id: str, wrapped: bytes) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(contact_key).where(contact_key.c.id == key_id).values(kek_id=kek_id, wrapped=wrapped)
            )

    def all_keys(self) -> list[StoredContactKey]:
        with self._engine.connect() as connection:
            return [_stored(row._mapping) for row in connection.execute(select(contact_key))]

    def destroy(self, contact_id: uuid.UUID) -> bool:
        """Delete the contact's key (crypto-shredding). Idempotent; True if a key was deleted."""
        with self._engine.begin() as connection:
            result = connection.execute(delete(contact_key).where(contact_key.c.contact_id == contact_id))
        return bool(result.rowcount)

    def dispose(self) -> None:
        self._engine.dispose()


def _private_file(path: Path) -> None:
    """Create the store's file readable by this user only (0600), before SQLite opens it with
    the process umask; tighten an existing one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(descriptor)
    path.chmod(0o600)


def _stored(row: Any) -> StoredContactKey:
    return StoredContactKey(row["id"], row["workspace_id"], row["contact_id"], row["kek_id"], row["wrapped"])


def new_key_id() -> uuid.UUID:
    return uuid7()
