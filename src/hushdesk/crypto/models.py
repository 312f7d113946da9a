"""Wrapped workspace data keys, in the main database.

A row holds one key version, wrapped by the master key (KEK) of a key provider; the KEK itself
never touches the database. Its id is the key id written into every ciphertext it seals.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey


class KeyPurpose(enum.StrEnum):
    DATA = "data"  # seals column values and files
    INDEX = "index"  # keys the blind indexes (HMAC-SHA256)
    PSEUDONYM = "pseudonym"  # keys the pseudonyms of redacted text (HMAC-SHA256)
    WIDGET = "widget"  # signs the website widget's visitor tokens (HMAC-SHA256)


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"  # seals new values
    RETIRING = "retiring"  # still opens old values until re-encryption finishes
    DESTROYED = "destroyed"  # wrapped material erased; what it sealed is unreadable


class DataKeyRecord(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "data_key"
    __table_args__ = (
        # At most one active key per workspace and purpose.
        Index(
            "uq_data_key_active",
            "workspace_id",
            "purpose",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    kek_id: Mapped[str] = mapped_column(String(2048))
    # Null once destroyed.
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Encryptions made under this key, added up across processes (the nonce budget).
    encryptions: Mapped[int] = mapped_column(BigInteger, default=0)
    destroyed_at: Mapped[dt.datetime | None]
