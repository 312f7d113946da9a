"""Knowledge documents, their chunks, and URL imports, each of one agent of one workspace.

Sealed: a document's source (a path or URL says what the business documents), title, links
and stored-file id; a chunk's heading, text and embedding vector (vectors can be inverted into
text, so they are as sensitive as the text); an import's URL. Plaintext: ids, the owning agent,
kinds, counts, sizes, ordinals and times, which the threat model lists.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.crypto.columns import EncryptedBytes, EncryptedJSON, EncryptedModel, EncryptedText
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow


class KnowledgeDocument(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """One document of an agent's knowledge base: an uploaded file, pasted text or a web page."""

    __tablename__ = "knowledge_document"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(EncryptedText())
    # Sealed columns have no defaults: a default is applied at insert, after sealing.
    title: Mapped[str] = mapped_column(EncryptedText())
    links: Mapped[list[str]] = mapped_column(EncryptedJSON())
    # The original in the encrypted file store (none for pasted text).
    file_id: Mapped[str | None] = mapped_column(EncryptedText(), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    byte_size: Mapped[int] = mapped_column(Integer)
    page_count: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class KnowledgeChunk(EncryptedModel, UUIDPrimaryKey, Base):
    """A passage of a document, the unit of retrieval."""

    __tablename__ = "knowledge_chunk"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("knowledge_document.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(EncryptedText())
    text: Mapped[str] = mapped_column(EncryptedText())
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    embedding: Mapped[bytes | None] = mapped_column(EncryptedBytes(), default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(200), default=None)


class ImportStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class KnowledgeImport(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """A URL import (one page or a sitemap) run as a background job, with its progress."""

    __tablename__ = "knowledge_import"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(EncryptedText())
    sitemap: Mapped[bool] = mapped_column(default=False)
    max_pages: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.QUEUED)
    pages_total: Mapped[int] = mapped_column(Integer, default=0)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    # Public reasons only (never a response body): "https://x/y: the site answered 404".
    failures: Mapped[list[str]] = mapped_column(EncryptedJSON())
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True, default=None
    )
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
