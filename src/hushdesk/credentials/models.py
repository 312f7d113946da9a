"""Credential rows: the value sealed under the workspace's data key."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.crypto.columns import EncryptedModel, EncryptedText
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey


class CredentialKind(enum.StrEnum):
    MODEL_API_KEY = "model_api_key"
    CHANNEL_TOKEN = "channel_token"  # noqa: S105 - the name of a kind, not a secret
    WEBHOOK_SECRET = "webhook_secret"  # noqa: S105 - the name of a kind, not a secret


class Credential(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "credential"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(EncryptedText())
    # The last few characters, so people can tell two keys apart; never more than 4 of at
    # least 16, so the hint cannot be used to guess the rest.
    hint: Mapped[str] = mapped_column(String(8))
