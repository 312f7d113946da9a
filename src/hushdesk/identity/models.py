"""Accounts, memberships, the one-time setup link and server-side sessions."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint, false
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
    # The password was right but the account has a second factor still to present: such a
    # session reaches only the second-factor page and sign-out.
    awaiting_second_factor: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When a second factor was last presented in this session (sign-in or step-up).
    second_factor_at: Mapped[dt.datetime | None]
    # Shown on the sessions page so that a person can tell their devices apart.
    user_agent: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed sign-ins counted per SHA-256 of (account, address) and of address."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[dt.datetime]


class Invitation(UUIDPrimaryKey, CreatedAt, Base):
    """A one-time link that lets the person at ``email`` join the workspace with ``role``.
    Expiring, single use and bound to the email: whoever opens it joins as that address and no
    other. Only the SHA-256 of the link's secret is stored."""

    __tablename__ = "invitation"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))
    # Agents the new member is assigned to on joining (managers and support people).
    agent_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class PasswordReset(UUIDPrimaryKey, CreatedAt, Base):
    """A one-time password reset link issued by an owner or admin for a member (there is no
    mail server in the embedded default, so the link is shown to the one who issued it).
    Only the SHA-256 of its secret is stored."""

    __tablename__ = "password_reset"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class ApiKey(UUIDPrimaryKey, CreatedAt, Base):
    """A workspace's key for an integration: ``hd_live_<prefix>_<secret>``. The prefix finds
    the row; only the SHA-256 of the secret is stored. ``scopes`` are permission values."""

    __tablename__ = "api_key"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(80))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
