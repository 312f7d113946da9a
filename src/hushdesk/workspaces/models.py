"""Workspace rows."""

from __future__ import annotations

import enum

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey


class Region(enum.StrEnum):
    """Where a workspace's data lives; fixed at creation."""

    EU = "eu"
    US = "us"
    AF = "af"


class Workspace(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "workspace"

    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(8))
    # Security policy, set by owners and admins (``hushdesk.identity.policy``).
    mfa_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    session_idle_minutes: Mapped[int] = mapped_column(default=30, server_default="30")
    session_absolute_minutes: Mapped[int] = mapped_column(default=720, server_default="720")
    # What a consent record proves: "accept" (the customer pressed accept) or "shown" (the
    # notice was displayed before the first message).
    consent_mode: Mapped[str] = mapped_column(String(16), default="accept", server_default="accept")
