"""The redaction policy row: at most one per workspace; no row means the defaults (every label
redacted by its label, no patterns of the workspace's own)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow


class RedactionPolicy(UUIDPrimaryKey, CreatedAt, Base):
    """Configuration, not customer data, so it is stored in the clear (docs/threat-model.md).
    The labels *not* redacted are stored, so a label the engine learns later is redacted from
    the start."""

    __tablename__ = "redaction_policy"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), unique=True
    )
    # A ``RedactionMode`` value.
    mode: Mapped[str] = mapped_column(String(16))
    # Label names, sorted.
    disabled_labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"name": "CUSTOMER_NUMBER", "expression": "CUST-\\d{6}"}, ...] in the order shown.
    custom_patterns: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
