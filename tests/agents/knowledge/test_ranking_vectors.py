"""VectorIndex: cosine search over normalised rows, shape and value checks, k bounds."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from hushdesk.agents.knowledge.ranking import IndexedChunk, VectorIndex


def chunks(count: int) -> list[IndexedChunk]:
    return [
        IndexedChunk(
            chunk_id=uuid.UUID(int=n + 1), document_id=uuid.UUID(int=100 + n), heading="", text=f"chunk {n}"
        )
        for n in range(count)
    ]


def test_search_ranks_by_cosine_whatever_the_vectors_lengths() -> None:
    vectors = np.array([[10.0, 0.0], [1.0, 1.0], [0.0, 0.1], [-3.0, 0.0]])
    index = VectorIndex.build(chunks(4), vectors)
    hits = index.search(np.array([1.0, 0.2]), 4)
    assert [hit.chunk_id.int for hit in hits] == [1, 2, 3, 4]
    assert hits[0].score == pytest.approx(1 / np.hypot(1.0, 0.2), rel=1e-6)
    assert hits[-1].score == pytest.approx(-1 / np.hypot(1.0, 0.2), rel=1e-6)


def test_an_identical_direction_scores_one() -> None:
    index = VectorIndex.build(chunks(2), np.array([[3.0, 4.0], [4.0, -3.0]], dtype=np.float64))
    assert index.search(np.array([0.6, 0.8], dtype=np.float32), 1)[0].score == pytest.approx(1.0, abs=1e-6)


def test_a_row_of_a_batch_is_accepted_as_the_query() -> None:
    index = VectorIndex.build(chunks(2), np.eye(2))
    assert index.search(np.array([[0.0, 1.0]]), 1)[0].chunk_id.int == 2


def test_zero_rows_stay_zero_and_a_zero_query_finds_nothing() -> None:
    index = VectorIndex.build(chunks(2), np.array([[0.0, 0.0], [1.0, 0.0]]))
    assert [hit.score for hit in index.search(np.array([1.0, 0.0]), 2)] == pytest.approx([1.0, 0.0])
    assert index.search(np.zeros(2), 2) == []


def test_ties_are_broken_by_chunk_id() -> None:
    rows = chunks(5)
    reordered = [rows[n] for n in (3, 0, 4, 2, 1)]
    index = VectorIndex.build(reordered, np.ones((5, 3)))
    assert [hit.chunk_id.int for hit in index.search(np.ones(3), 3)] == [1, 2, 3]


def test_k_caps_the_results() -> None:
    index = VectorIndex.build(chunks(10), np.random.default_rng(1).standard_normal((10, 8)))
    assert len(index.search(np.ones(8), 3)) == 3
    assert len(index.search(np.ones(8), 100)) == 10
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(np.ones(8), 0)


@pytest.mark.parametrize(
    "vectors",
    [np.ones((3, 4)), np.ones(4), np.ones((2, 0)), np.ones((2, 4, 1))],
    ids=["too many rows", "one dimension", "no columns", "three dimensions"],
)
def test_vectors_must_have_one_row_per_chunk(vectors: np.ndarray) -> None:
    with pytest.raises(ValueError, match="shape"):
        VectorIndex.build(chunks(2), vectors)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_vectors_must_be_finite(bad: float) -> None:
    vectors = np.ones((2, 3))
    vectors[1, 2] = bad
    with pytest.raises(ValueError, match="finite"):
        VectorIndex.build(chunks(2), vectors)


def test_integer_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="floating"):
        VectorIndex.build(chunks(2), np.ones((2, 3), dtype=np.int64))


@pytest.mark.parametrize("query", [np.ones(3), np.ones((2, 4)), np.ones((4, 1))])
def test_query_must_match_the_dimension(query: np.ndarray) -> None:
    index = VectorIndex.build(chunks(2), np.ones((2, 4)))
    with pytest.raises(ValueError, match="shape"):
        index.search(query, 1)


def test_query_must_be_finite() -> None:
    index = VectorIndex.build(chunks(2), np.ones((2, 4)))
    with pytest.raises(ValueError, match="finite"):
        index.search(np.array([1.0, np.nan, 0.0, 0.0]), 1)


def test_an_empty_index_finds_nothing() -> None:
    index = VectorIndex.build([], np.zeros((0, 4)))
    assert len(index) == 0
    assert index.search(np.ones(4), 5) == []


def test_nbytes_counts_the_float32_matrix() -> None:
    index = VectorIndex.build(chunks(100), np.ones((100, 256)))
    assert index.dimension == 256
    assert index.nbytes >= 100 * 256 * 4


def test_repeated_chunk_ids_are_refused() -> None:
    rows = chunks(1)
    with pytest.raises(ValueError, match="unique"):
        VectorIndex.build(rows + rows, np.ones((2, 2)))
