"""fuse: lexical and semantic hits combined into one ranking."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hushdesk.agents.knowledge.ranking import ChunkHit, fuse


def hit(number: int, score: float) -> ChunkHit:
    return ChunkHit(chunk_id=uuid.UUID(int=number), document_id=uuid.UUID(int=1_000 + number), score=score)


def ranked(numbers: list[int], scores: list[float]) -> list[ChunkHit]:
    return [hit(n, s) for n, s in zip(numbers, sorted(scores, reverse=True), strict=False)]


hit_lists = st.tuples(
    st.lists(st.integers(min_value=2, max_value=60), unique=True, max_size=20),
    st.lists(st.floats(min_value=0.01, max_value=50.0), min_size=20, max_size=20),
)
cosine_lists = st.tuples(
    st.lists(st.integers(min_value=2, max_value=60), unique=True, max_size=20),
    st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=20, max_size=20),
)


@given(hit_lists, cosine_lists)
def test_a_chunk_first_in_both_lists_stays_first(
    lexical: tuple[list[int], list[float]], semantic: tuple[list[int], list[float]]
) -> None:
    lexical_hits = [hit(1, 100.0), *ranked(*lexical)]
    semantic_hits = [hit(1, 2.0), *ranked(*semantic)]
    fused = fuse(lexical_hits, semantic_hits, k=10)
    assert fused[0].chunk_id.int == 1
    assert fused[0].score == pytest.approx(1.0)


@given(hit_lists, cosine_lists, st.integers(min_value=1, max_value=50))
def test_each_chunk_once_scores_in_unit_range_best_first(
    lexical: tuple[list[int], list[float]], semantic: tuple[list[int], list[float]], k: int
) -> None:
    lexical_hits, semantic_hits = ranked(*lexical), ranked(*semantic)
    fused = fuse(lexical_hits, semantic_hits, k=k)
    ids = [h.chunk_id for h in fused]
    assert len(ids) == len(set(ids)) <= k
    assert set(ids) <= {h.chunk_id for h in lexical_hits + semantic_hits}
    assert all(0.0 <= h.score <= 1.0 + 1e-9 for h in fused)
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)
    assert len(fused) == min(k, len({h.chunk_id for h in lexical_hits + semantic_hits}))


def test_with_one_list_empty_the_other_keeps_its_order() -> None:
    lexical = [hit(3, 9.0), hit(1, 4.0), hit(2, 1.0)]
    assert [h.chunk_id.int for h in fuse(lexical, [], k=5)] == [3, 1, 2]
    semantic = [hit(5, 0.9), hit(4, 0.5), hit(6, 0.1)]
    assert [h.chunk_id.int for h in fuse([], semantic, k=5)] == [5, 4, 6]
    assert fuse([], [], k=5) == []


def test_agreement_beats_a_lead_in_one_list() -> None:
    lexical = [hit(1, 10.0), hit(2, 9.0), hit(3, 1.0)]
    semantic = [hit(2, 0.80), hit(3, 0.78), hit(1, 0.20)]
    assert fuse(lexical, semantic, k=3)[0].chunk_id.int == 2


def test_lexical_scores_keep_their_proportion_to_the_best() -> None:
    fused = fuse([hit(1, 10.0), hit(2, 5.0)], [], k=2)
    assert [h.score for h in fused] == pytest.approx([0.5, 0.25])


def test_ties_are_broken_by_chunk_id() -> None:
    fused = fuse([hit(7, 1.0), hit(3, 1.0)], [hit(9, 0.5), hit(5, 0.5)], k=4)
    assert [h.chunk_id.int for h in fused] == [3, 5, 7, 9]


def test_documents_travel_with_their_chunks() -> None:
    fused = fuse([hit(1, 2.0)], [hit(2, 0.7)], k=2)
    assert {h.chunk_id.int: h.document_id.int for h in fused} == {1: 1_001, 2: 1_002}


@pytest.mark.parametrize("k", [0, -3, False])
def test_k_must_be_a_positive_integer(k: int) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        fuse([hit(1, 1.0)], [], k=k)
