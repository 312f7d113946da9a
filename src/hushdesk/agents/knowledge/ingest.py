"""Adding, replacing and deleting an agent's knowledge documents.

Two steps, so that no parsing or network call runs inside a transaction:

1. ``prepare_file`` / ``prepare_text`` / ``prepare_page`` (no database): detect the type,
   extract, chunk and, for hybrid agents, embed. Every refusal (wrong type, corrupt, too
   large, a bomb, nothing to read) is raised here, before anything is written.
2. ``do_store_document`` (in the caller's unit of work): the original goes to the encrypted
   file store, the document and its chunks are sealed into the database, a document with the
   same source is replaced, the agent's knowledge revision is bumped (every process then
   rebuilds its index) and the change is audited. If the transaction rolls back, the new file
   is removed; a replaced or deleted document's file is removed only once the deletion has
   committed.

Every function takes an agent that an access function returned; documents are always looked
up by (workspace, agent, id), so one agent's document id is ``NotFound`` through another.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor
from hushdesk.agents.knowledge.chunking import Chunk, chunk_document
from hushdesk.agents.knowledge.extraction import (
    DocumentKind,
    ExtractedDocument,
    ExtractionLimits,
    extract,
    extract_pasted_text,
    kind_for,
)
from hushdesk.agents.knowledge.models import KnowledgeChunk, KnowledgeDocument
from hushdesk.agents.knowledge.ranking import LocalEmbedder
from hushdesk.agents.knowledge.web_import import FetchedPage
from hushdesk.agents.models import Agent
from hushdesk.audit.service import do_record_event
from hushdesk.crypto.aead import binding
from hushdesk.crypto.columns import KEYRING_INFO_KEY
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.crypto.keyring import Keyring
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.outcome import on_outcome
from hushdesk.infra.errors import NotFound, ValidationFailed
from hushdesk.infra.text import has_control_characters

MAX_SOURCE_CHARS = 1000
MAX_DOCUMENTS_PER_AGENT = 5000


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to store: its text in chunks (and their vectors, for hybrid agents)."""

    source: str
    kind: DocumentKind
    document: ExtractedDocument
    chunks: tuple[Chunk, ...]
    original: bytes | None
    vectors: np.ndarray | None = None
    embedding_model: str | None = None


def check_source(source: str) -> str:
    """A document's source (a relative path, a file name, a URL or a title for pasted text):
    1 to 1000 characters without control characters. Raises ``ValidationFailed``."""
    clean = source.strip()
    if not 1 <= len(clean) <= MAX_SOURCE_CHARS:
        raise ValidationFailed(f"A document's source is 1 to {MAX_SOURCE_CHARS} characters.")
    if has_control_characters(clean):
        raise ValidationFailed("A document's source may not contain control characters.")
    return clean


def prepare_file(
    *,
    source: str,
    filename: str,
    content: bytes,
    declared_type: str | None = None,
    limits: ExtractionLimits | None = None,
    embedder: LocalEmbedder | None = None,
    base_url: str | None = None,
) -> PreparedDocument:
    """Extract and chunk an uploaded file. Raises ``DocumentRejected`` (a 4xx) for anything
    wrong with the file and ``ValidationFailed`` for a bad source; touches no database."""
    clean_source = check_source(source)
    chosen = limits or ExtractionLimits()
    kind = kind_for(filename, content, declared_type)
    document = extract(kind, content, limits=chosen, base_url=base_url)
    return _prepared(clean_source, kind, document, content, embedder)


def prepare_text(
    *, source: str, text: str, limits: ExtractionLimits | None = None, embedder: LocalEmbedder | None = None
) -> PreparedDocument:
    """Chunk pasted text; ``source`` is the title the admin gave it."""
    clean_source = check_source(source)
    document = extract_pasted_text(text, limits=limits or ExtractionLimits())
    return _prepared(clean_source, DocumentKind.TEXT, document, text.encode("utf-8"), embedder)


def prepare_page(
    page: FetchedPage, *, limits: ExtractionLimits | None = None, embedder: LocalEmbedder | None = None
) -> PreparedDocument:
    """Extract and chunk a fetched web page; its source is its final URL."""
    return prepare_file(
        source=page.url,
        filename=page.filename,
        content=page.content,
        declared_type=page.content_type,
        limits=limits,
        embedder=embedder,
        base_url=page.url,
    )


def _prepared(
    source: str,
    kind: DocumentKind,
    document: ExtractedDocument,
    original: bytes,
    embedder: LocalEmbedder | None,
) -> PreparedDocument:
    chunks = tuple(chunk_document(document))
    if embedder is None or not chunks:
        return PreparedDocument(source=source, kind=kind, document=document, chunks=chunks, original=original)
    vectors = embedder.embed_array([embedding_text(chunk.heading, chunk.text) for chunk in chunks])
    return PreparedDocument(
        source=source,
        kind=kind,
        document=document,
        chunks=chunks,
        original=original,
        vectors=vectors,
        embedding_model=embedder.embedding_model,
    )


def embedding_text(heading: str, text: str) -> str:
    """What a chunk's vector is computed from: its heading path, then its text."""
    return f"{heading}\n{text}" if heading else text


@dataclass(frozen=True)
class StoredDocument:
    document: KnowledgeDocument
    replaced: bool


def do_store_document(
    session: Session,
    agent: Agent,
    prepared: PreparedDocument,
    *,
    files: EncryptedFileStore,
    actor: Actor,
    max_file_bytes: int,
) -> StoredDocument:
    """Store ``prepared`` as a document of ``agent``, replacing the agent's document with the
    same source. Locks the agent's row (one writer of its knowledge at a time). Raises
    ``ValidationFailed`` when the agent already has the maximum number of documents. Flushes;
    never commits."""
    _lock_knowledge(session, agent)
    previous = _document_with_source(session, agent, prepared.source)
    if previous is None and _document_count(session, agent) >= MAX_DOCUMENTS_PER_AGENT:
        raise ValidationFailed(f"An agent holds at most {MAX_DOCUMENTS_PER_AGENT} documents.")
    if previous is not None:
        _remove_document(session, previous, files=files)
    document = KnowledgeDocument(
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        source=prepared.source,
        title=prepared.document.title or "",
        links=list(prepared.document.links),
        kind=prepared.kind.value,
        byte_size=len(prepared.original or b""),
        page_count=prepared.document.pages,
        chunk_count=len(prepared.chunks),
    )
    session.add(document)
    session.flush()
    if prepared.original is not None:
        document.file_id = _write_original(session, document, prepared.original, files, max_file_bytes)
    session.add_all(_chunk_rows(document, prepared))
    _bump_revision(session, agent)
    _audit(
        session,
        agent,
        actor,
        "knowledge.document.replaced" if previous else "knowledge.document.added",
        document,
    )
    session.flush()
    return StoredDocument(document=document, replaced=previous is not None)


def do_delete_document(
    session: Session, agent: Agent, document_id: uuid.UUID, *, files: EncryptedFileStore, actor: Actor
) -> None:
    """Delete one of ``agent``'s documents: its chunks and index entries now, its stored file
    once the deletion commits. Raises ``NotFound`` for another agent's document. Flushes."""
    document = access_document_by_id(session, agent, document_id)
    _lock_knowledge(session, agent)
    _remove_document(session, document, files=files)
    _bump_revision(session, agent)
    _audit(session, agent, actor, "knowledge.document.deleted", document)
    session.flush()


def do_delete_agent(session: Session, agent: Agent, *, files: EncryptedFileStore, actor: Actor) -> None:
    """Delete an agent with its configuration history, documents, chunks and (after commit)
    stored files, and audit it. Flushes; never commits."""
    # Whole rows: a sealed column is opened when its row is loaded, not in a column query.
    file_ids = [document.file_id for document in list_documents(session, agent) if document.file_id]
    do_record_event(
        session,
        workspace_id=agent.workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action="agent.deleted",
        target_kind="agent",
        target_id=str(agent.id),
        data={"documents": len(file_ids)},
    )
    session.delete(agent)
    session.flush()
    on_outcome(session, committed=lambda: _delete_files(files, file_ids))


def access_document_by_id(session: Session, agent: Agent, document_id: uuid.UUID) -> KnowledgeDocument:
    """``agent``'s document ``document_id``; ``NotFound`` for a missing one or another's."""
    document = session.scalar(
        select(KnowledgeDocument).where(
            KnowledgeDocument.id == document_id,
            KnowledgeDocument.agent_id == agent.id,
            KnowledgeDocument.workspace_id == agent.workspace_id,
        )
    )
    if document is None:
        raise NotFound()
    return document


def list_documents(session: Session, agent: Agent) -> list[KnowledgeDocument]:
    """``agent``'s documents, by source."""
    documents = session.scalars(
        select(KnowledgeDocument).where(
            KnowledgeDocument.agent_id == agent.id, KnowledgeDocument.workspace_id == agent.workspace_id
        )
    )
    return sorted(documents, key=lambda document: (document.source.casefold(), document.id))


def knowledge_hosts(documents: Sequence[KnowledgeDocument]) -> frozenset[str]:
    """The hosts an agent's knowledge mentions (its pages' own and the links in them): the only
    hosts a reply may link to."""
    hosts: set[str] = set()
    for document in documents:
        for url in (document.source, *document.links):
            host = _host_of(url)
            if host:
                hosts.add(host)
    return frozenset(hosts)


def _host_of(url: str) -> str | None:
    if not url.startswith(("http://", "https://")):
        return None
    with contextlib.suppress(ValueError):
        return (urlsplit(url).hostname or "").lower() or None
    return None


def _document_with_source(session: Session, agent: Agent, source: str) -> KnowledgeDocument | None:
    # Sources are sealed, so the comparison happens here, over this agent's documents only.
    for document in list_documents(session, agent):
        if document.source == source:
            return document
    return None


def _document_count(session: Session, agent: Agent) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(KnowledgeDocument)
            .where(
                KnowledgeDocument.agent_id == agent.id, KnowledgeDocument.workspace_id == agent.workspace_id
            )
        )
        or 0
    )


def _remove_document(session: Session, document: KnowledgeDocument, *, files: EncryptedFileStore) -> None:
    session.execute(
        delete(KnowledgeChunk).where(
            KnowledgeChunk.document_id == document.id, KnowledgeChunk.workspace_id == document.workspace_id
        )
    )
    file_id = document.file_id
    session.delete(document)
    session.flush()
    if file_id:
        on_outcome(session, committed=lambda: _delete_files(files, [file_id]))


def _write_original(
    session: Session, document: KnowledgeDocument, original: bytes, files: EncryptedFileStore, max_bytes: int
) -> str:
    keyring: Keyring = session.info[KEYRING_INFO_KEY]
    key = keyring.data_key_for_writing(session, workspace_id=document.workspace_id)
    stored = files.write([original], key=key, bound_to=file_binding(document), max_bytes=max_bytes)
    on_outcome(session, rolled_back=lambda: _delete_files(files, [stored.id]))
    return stored.id


def file_binding(document: KnowledgeDocument) -> bytes:
    """What a document's stored file is bound to: its workspace and its row."""
    return binding("knowledge_document", str(document.workspace_id), str(document.id))


def _chunk_rows(document: KnowledgeDocument, prepared: PreparedDocument) -> list[KnowledgeChunk]:
    rows = []
    for position, chunk in enumerate(prepared.chunks):
        vector = None
        if prepared.vectors is not None:
            vector = np.asarray(prepared.vectors[position], dtype="<f4").tobytes()
        rows.append(
            KnowledgeChunk(
                workspace_id=document.workspace_id,
                agent_id=document.agent_id,
                document_id=document.id,
                ordinal=chunk.ordinal,
                heading=chunk.heading,
                text=chunk.text,
                page=chunk.page,
                embedding=vector,
                embedding_model=prepared.embedding_model if vector is not None else None,
            )
        )
    return rows


def _lock_knowledge(session: Session, agent: Agent) -> None:
    """Lock the agent's row; ``NotFound`` if it was deleted since it was loaded (a caller may
    have ended the transaction that loaded it, to parse files with none open)."""
    locked = session.scalar(
        select(Agent.id)
        .where(Agent.id == agent.id, Agent.workspace_id == agent.workspace_id)
        .with_for_update()
    )
    if locked is None:
        raise NotFound()


def _bump_revision(session: Session, agent: Agent) -> None:
    session.execute(
        update(Agent)
        .where(Agent.id == agent.id, Agent.workspace_id == agent.workspace_id)
        .values(knowledge_revision=Agent.knowledge_revision + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.refresh(agent, attribute_names=["knowledge_revision", "updated_at"])


def _audit(session: Session, agent: Agent, actor: Actor, action: str, document: KnowledgeDocument) -> None:
    do_record_event(
        session,
        workspace_id=agent.workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_kind="knowledge_document",
        target_id=str(document.id),
        data={"agent": str(agent.id), "kind": document.kind, "chunks": document.chunk_count},
    )


def _delete_files(files: EncryptedFileStore, file_ids: Sequence[str]) -> None:
    for file_id in file_ids:
        files.delete(file_id)
