"""Searching one agent's knowledge, and the in-memory indexes that make it fast.

Isolation: every search takes an ``Agent`` that an access function loaded in this session
(``access_agent_by_id`` for people and API keys, ``access_agent_by_slug`` for the operator,
the conversation's own agent for the assistant), and the index is built from the chunks of
that agent of that workspace only. There is no function that searches more than one agent.

The index is never written anywhere: it is built in memory from the decrypted chunks the
first time an agent is searched, kept in a bounded cache keyed by (workspace, agent), and
rebuilt when the agent's ``knowledge_revision`` (bumped by every change to its documents, in
the same transaction) differs from the one it was built at, so every process sees a change
on its next search.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from hushdesk.agents.knowledge.ingest import embedding_text, knowledge_hosts
from hushdesk.agents.knowledge.models import KnowledgeChunk, KnowledgeDocument
from hushdesk.agents.knowledge.passages import Passage
from hushdesk.agents.knowledge.ranking import (
    ChunkHit,
    IndexedChunk,
    LexicalIndex,
    LocalEmbedder,
    VectorIndex,
    fuse,
    rank_documents,
)
from hushdesk.agents.models import Agent

MAX_K = 50
MAX_QUERY_CHARS = 2000
# How many candidates each ranker gives the fusion, per result wanted.
_CANDIDATES_PER_RESULT = 4


@dataclass(frozen=True)
class RankedSource:
    source: str
    score: float


@dataclass
class AgentIndex:
    """One agent's knowledge in memory: its chunks, their lexical index and, when every chunk
    has a vector of the same model, their vector index."""

    revision: int
    lexical: LexicalIndex
    vectors: VectorIndex | None
    embedding_model: str | None
    chunks: dict[uuid.UUID, KnowledgeChunkText]
    sources: dict[uuid.UUID, str]
    hosts: frozenset[str]

    @property
    def nbytes(self) -> int:
        text = sum(len(chunk.text) + len(chunk.heading) for chunk in self.chunks.values())
        return self.lexical.nbytes + (self.vectors.nbytes if self.vectors else 0) + text


@dataclass(frozen=True, slots=True)
class KnowledgeChunkText:
    document_id: uuid.UUID
    heading: str
    text: str


class KnowledgeIndexCache:
    """The indexes of the agents searched lately, at most ``max_agents`` and about
    ``max_bytes``, least recently used first out. Thread-safe; one per process, made by
    ``create_app`` or the CLI and passed down."""

    def __init__(
        self,
        *,
        max_agents: int = 64,
        max_bytes: int = 1 << 30,
        embedder: Callable[[], LocalEmbedder | None] | None = None,
    ) -> None:
        self._max_agents = max_agents
        self._max_bytes = max_bytes
        self._entries: OrderedDict[tuple[uuid.UUID, uuid.UUID], AgentIndex] = OrderedDict()
        self._lock = threading.Lock()
        self._embedder_factory = embedder
        self._embedder: LocalEmbedder | None = None
        self._embedder_loaded = False

    def index_for(self, session: Session, agent: Agent) -> AgentIndex:
        """The agent's index at its current revision, built if needed."""
        _check_accessed(session, agent)
        key = (agent.workspace_id, agent.id)
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found.revision == agent.knowledge_revision:
                self._entries.move_to_end(key)
                return found
        built = build_agent_index(session, agent)
        with self._lock:
            self._entries[key] = built
            self._entries.move_to_end(key)
            self._evict()
        return built

    def local_embedder(self) -> LocalEmbedder | None:
        """The local embedding model, loaded once, if this installation has it."""
        with self._lock:
            if not self._embedder_loaded:
                self._embedder = self._embedder_factory() if self._embedder_factory else None
                self._embedder_loaded = True
            return self._embedder

    def forget(self, agent: Agent) -> None:
        with self._lock:
            self._entries.pop((agent.workspace_id, agent.id), None)

    def _evict(self) -> None:
        total = sum(entry.nbytes for entry in self._entries.values())
        while len(self._entries) > 1 and (len(self._entries) > self._max_agents or total > self._max_bytes):
            _, dropped = self._entries.popitem(last=False)
            total -= dropped.nbytes


def _check_accessed(session: Session, agent: Agent) -> None:
    # An Agent made up in code (not loaded through an access function in this session) is
    # refused: its id could name any agent.
    state = inspect(agent)
    if not state.persistent or agent not in session:
        raise ValueError("search needs an agent loaded by an access function in this session")


def build_agent_index(session: Session, agent: Agent) -> AgentIndex:
    """Decrypt the agent's chunks and index them. Reads the chunks of (workspace, agent)."""
    _check_accessed(session, agent)
    documents = list(
        session.scalars(
            select(KnowledgeDocument).where(
                KnowledgeDocument.workspace_id == agent.workspace_id, KnowledgeDocument.agent_id == agent.id
            )
        )
    )
    rows = session.scalars(
        select(KnowledgeChunk)
        .where(KnowledgeChunk.workspace_id == agent.workspace_id, KnowledgeChunk.agent_id == agent.id)
        .order_by(KnowledgeChunk.document_id, KnowledgeChunk.ordinal)
    ).all()
    indexed = [IndexedChunk(row.id, row.document_id, row.heading, row.text) for row in rows]
    chunks = {row.id: KnowledgeChunkText(row.document_id, row.heading, row.text) for row in rows}
    models = {row.embedding_model for row in rows}
    vectors = None
    model = next(iter(models)) if len(models) == 1 else None
    if rows and model is not None:
        matrix = np.vstack([np.frombuffer(row.embedding or b"", dtype="<f4") for row in rows])
        vectors = VectorIndex.build(indexed, matrix)
    for row in rows:
        session.expunge(row)  # the plaintext lives in the index now, not the session too
    return AgentIndex(
        revision=agent.knowledge_revision,
        lexical=LexicalIndex.build(indexed),
        vectors=vectors,
        embedding_model=model,
        chunks=chunks,
        sources={document.id: document.source for document in documents},
        hosts=knowledge_hosts(documents),
    )


def _ranked_chunks(
    agent: Agent, index: AgentIndex, cache: KnowledgeIndexCache, query: str, k: int
) -> list[ChunkHit]:
    wanted = max(1, min(k, MAX_K))
    candidates = wanted * _CANDIDATES_PER_RESULT
    lexical = index.lexical.search(query[:MAX_QUERY_CHARS], candidates)
    if index.vectors is None or agent.retrieval_mode != "hybrid":
        return lexical
    embedder = cache.local_embedder()
    if embedder is None or embedder.embedding_model != index.embedding_model:
        return lexical
    query_vector = embedder.embed_array([embedding_text("", query[:MAX_QUERY_CHARS])])[0]
    semantic = index.vectors.search(query_vector, candidates)
    return fuse(lexical, semantic, k=candidates)


@dataclass(frozen=True)
class AgentSearcher:
    """Searches one agent's index in memory: made inside a transaction by ``searcher_for``,
    usable after it has ended (the assistant retrieves again while no transaction is open)."""

    agent: Agent
    index: AgentIndex
    cache: KnowledgeIndexCache

    def __call__(self, query: str, *, k: int) -> list[Passage]:
        """The ``k`` (at most 50) passages that best answer ``query``, best first."""
        hits = _ranked_chunks(self.agent, self.index, self.cache, query, k)[: max(1, min(k, MAX_K))]
        passages = []
        for hit in hits:
            chunk = self.index.chunks[hit.chunk_id]
            passages.append(
                Passage(
                    chunk_id=hit.chunk_id,
                    document_id=chunk.document_id,
                    source=self.index.sources.get(chunk.document_id, ""),
                    heading=chunk.heading,
                    text=chunk.text,
                    score=hit.score,
                )
            )
        return passages

    def sources(self, query: str, *, k: int) -> list[RankedSource]:
        """The ``k`` (at most 50) documents that best answer ``query``, each once, best first,
        by source and best chunk score."""
        wanted = max(1, min(k, MAX_K))
        hits = _ranked_chunks(self.agent, self.index, self.cache, query, wanted * _CANDIDATES_PER_RESULT)
        return [
            RankedSource(source=self.index.sources.get(document.document_id, ""), score=document.score)
            for document in rank_documents(hits, k=wanted)
        ]

    @property
    def hosts(self) -> frozenset[str]:
        """The hosts the agent's knowledge mentions: the hosts its replies may link to."""
        return self.index.hosts


def searcher_for(session: Session, agent: Agent, *, cache: KnowledgeIndexCache) -> AgentSearcher:
    """A searcher over ``agent``'s knowledge at its current revision."""
    return AgentSearcher(agent=agent, index=cache.index_for(session, agent), cache=cache)


def search_passages(
    session: Session, agent: Agent, query: str, *, k: int, cache: KnowledgeIndexCache
) -> list[Passage]:
    """The ``k`` (at most 50) passages of ``agent``'s knowledge that best answer ``query``,
    best first."""
    return searcher_for(session, agent, cache=cache)(query, k=k)


def search_sources(
    session: Session, agent: Agent, query: str, *, k: int, cache: KnowledgeIndexCache
) -> list[RankedSource]:
    """The ``k`` documents of ``agent`` that best answer ``query``, each once, best first, by
    source."""
    return searcher_for(session, agent, cache=cache).sources(query, k=k)
