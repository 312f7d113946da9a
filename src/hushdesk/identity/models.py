"""Accounts, memberships, the one-time setup link and server-side sessions."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    SUPPORT = "support"
    AUDITOR = "auditor"


class User(UUIDPrimaryKey, CreatedAt, Base):
    """A person who signs in to the dashboard (never a business's customer)."""

    __tablename__ = "user_account"

    # Stored lower-cased and trimmed; unique across the installation.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))


class Membership(UUIDPrimaryKey, CreatedAt, Base):
    """A user's role in one workspace."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))


class SetupToken(UUIDPrimaryKey, CreatedAt, Base):
    """A one-time first-run setup link. Only its SHA-256 is stored: a copy of the database
    does not give anyone the link."""

    __tablename__ = "setup_token"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class WebSession(UUIDPrimaryKey, CreatedAt, Base):
    """A signed-in browser. The cookie holds a random secret; the row holds its SHA-256."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins counted per SHA-256 of (account, address) and of address."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[dt.datetime]
