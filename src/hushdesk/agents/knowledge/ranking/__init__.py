"""Search over one agent's knowledge: BM25 over the chunks' words (``LexicalIndex``), cosine
over their embeddings (``VectorIndex``, vectors from ``LocalEmbedder`` or a provider), the two
combined (``fuse``), and chunk hits turned into a ranking of documents (``rank_documents``).

Indexes live in memory only and are built from decrypted chunks by the caller; nothing here
reads or writes files, except ``LocalEmbedder.load`` reading the model's files.
"""

from hushdesk.agents.knowledge.ranking.bm25 import LexicalIndex
from hushdesk.agents.knowledge.ranking.documents import DocumentHit, rank_documents
from hushdesk.agents.knowledge.ranking.fusion import fuse
from hushdesk.agents.knowledge.ranking.hits import ChunkHit, IndexedChunk
from hushdesk.agents.knowledge.ranking.local_model import (
    LocalEmbedder,
    LocalModelUnavailable,
    local_model_available,
)
from hushdesk.agents.knowledge.ranking.vectors import VectorIndex

__all__ = [
    "ChunkHit",
    "DocumentHit",
    "IndexedChunk",
    "LexicalIndex",
    "LocalEmbedder",
    "LocalModelUnavailable",
    "VectorIndex",
    "fuse",
    "local_model_available",
    "rank_documents",
]
