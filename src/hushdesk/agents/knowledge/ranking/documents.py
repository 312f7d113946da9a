"""From chunk hits to documents: each document once, ranked by its best chunk."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from hushdesk.agents.knowledge.ranking.chunk_table import check_k
from hushdesk.agents.knowledge.ranking.hits import ChunkHit


@dataclass(frozen=True, slots=True)
class DocumentHit:
    """A document, scored by its best chunk (``best_chunk_id``) in one search."""

    document_id: uuid.UUID
    score: float
    best_chunk_id: uuid.UUID


def rank_documents(hits: Sequence[ChunkHit], *, k: int) -> list[DocumentHit]:
    """The best ``k`` documents among ``hits``, each once, scored by its best chunk, best first;
    equal scores keep the order of the hits. Raises ValueError unless ``k`` is positive.

    A document's best passage is what answers a question; summing its chunks instead would rank
    long documents above the one short article that holds the answer."""
    check_k(k)
    best: dict[uuid.UUID, tuple[float, int, uuid.UUID]] = {}
    for position, hit in enumerate(hits):
        held = best.get(hit.document_id)
        if held is None or hit.score > held[0]:
            first_seen = position if held is None else held[1]
            best[hit.document_id] = (hit.score, first_seen, hit.chunk_id)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))[:k]
    return [
        DocumentHit(document_id=document_id, score=score, best_chunk_id=chunk_id)
        for document_id, (score, _, chunk_id) in ranked
    ]
