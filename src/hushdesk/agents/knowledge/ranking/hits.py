"""What goes into a search index and what comes out of it.

An ``IndexedChunk`` is one decrypted chunk of one agent's knowledge, as the index is built from
it; a ``ChunkHit`` names a chunk and its score, higher is better, comparable only within the
search that produced it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """``heading`` is the chunk's heading path, outermost first (``"Billing > Invoices"``);
    ``text`` the chunk's body."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class ChunkHit:
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    score: float
