"""rank_documents: chunk hits to a ranking of documents, each once."""

from __future__ import annotations

import uuid

import pytest

from hushdesk.agents.knowledge.ranking import ChunkHit, DocumentHit, rank_documents


def hit(chunk: int, document: int, score: float) -> ChunkHit:
    return ChunkHit(chunk_id=uuid.UUID(int=chunk), document_id=uuid.UUID(int=document), score=score)


def test_each_document_once_scored_by_its_best_chunk() -> None:
    hits = [hit(1, 10, 0.9), hit(2, 20, 0.8), hit(3, 10, 0.7), hit(4, 30, 0.6), hit(5, 20, 0.95)]
    assert rank_documents(hits, k=10) == [
        DocumentHit(document_id=uuid.UUID(int=20), score=0.95, best_chunk_id=uuid.UUID(int=5)),
        DocumentHit(document_id=uuid.UUID(int=10), score=0.9, best_chunk_id=uuid.UUID(int=1)),
        DocumentHit(document_id=uuid.UUID(int=30), score=0.6, best_chunk_id=uuid.UUID(int=4)),
    ]


def test_many_chunks_do_not_lift_a_document_above_a_better_single_chunk() -> None:
    hits = [hit(1, 10, 0.9), *(hit(n, 20, 0.8) for n in range(2, 12))]
    assert [d.document_id.int for d in rank_documents(hits, k=2)] == [10, 20]


def test_equal_scores_keep_the_order_of_the_hits() -> None:
    hits = [hit(1, 30, 0.5), hit(2, 10, 0.5), hit(3, 20, 0.5)]
    assert [d.document_id.int for d in rank_documents(hits, k=3)] == [30, 10, 20]


def test_k_caps_the_documents() -> None:
    hits = [hit(n, n, 1.0 / n) for n in range(1, 20)]
    assert [d.document_id.int for d in rank_documents(hits, k=3)] == [1, 2, 3]
    assert rank_documents([], k=3) == []


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        rank_documents([hit(1, 1, 1.0)], k=0)
