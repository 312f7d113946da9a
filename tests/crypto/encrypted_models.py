"""A model with every kind of encrypted column, on its own metadata (not the product's), for
the tests of the column types, the keyring and the canary scan."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import MetaData, String, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hushdesk.crypto.columns import EncryptedBytes, EncryptedJSON, EncryptedModel, EncryptedText


class FixtureBase(DeclarativeBase):
    metadata = MetaData()


class Dossier(EncryptedModel, FixtureBase):
    __tablename__ = "test_dossier"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    label: Mapped[str | None] = mapped_column(String(200))  # plaintext: the scan's positive control
    body: Mapped[str | None] = mapped_column(EncryptedText())
    details: Mapped[Any] = mapped_column(EncryptedJSON(), nullable=True)
    attachment: Mapped[bytes | None] = mapped_column(EncryptedBytes())
    phone: Mapped[str | None] = mapped_column(EncryptedText(contact_attribute="contact_id"))
