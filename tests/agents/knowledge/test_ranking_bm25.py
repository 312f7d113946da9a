"""LexicalIndex: BM25 scores checked by hand on tiny examples, the heading field, determinism,
query limits and k bounds."""

from __future__ import annotations

import math
import random
import time
import uuid

import pytest

from hushdesk.agents.knowledge.ranking import IndexedChunk, LexicalIndex
from hushdesk.agents.knowledge.ranking.bm25 import HEADING_WEIGHT, K1, MAX_QUERY_TERMS, B


def chunk(text: str, heading: str = "", *, number: int, document: int | None = None) -> IndexedChunk:
    return IndexedChunk(
        chunk_id=uuid.UUID(int=number),
        document_id=uuid.UUID(int=1_000 + (number if document is None else document)),
        heading=heading,
        text=text,
    )


def expected(tf: float, length: float, average: float, df: int, count: int) -> float:
    idf = math.log(1 + (count - df + 0.5) / (df + 0.5))
    return idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / average))


def scores(index: LexicalIndex, query: str) -> dict[int, float]:
    return {hit.chunk_id.int: hit.score for hit in index.search(query, 10)}


def test_scores_match_the_bm25_formula() -> None:
    index = LexicalIndex.build(
        [chunk("apple banana", number=1), chunk("apple apple cherry", number=2), chunk("date", number=3)]
    )
    found = scores(index, "apple")
    assert set(found) == {1, 2}
    assert found[1] == pytest.approx(expected(1, 2, 2, df=2, count=3), rel=1e-6)
    assert found[2] == pytest.approx(expected(2, 3, 2, df=2, count=3), rel=1e-6)


def test_rarer_terms_weigh_more() -> None:
    index = LexicalIndex.build(
        [chunk("apple banana", number=1), chunk("apple cherry", number=2), chunk("apple date", number=3)]
    )
    assert scores(index, "banana")[1] > scores(index, "apple")[1]


def test_longer_chunks_are_discounted() -> None:
    index = LexicalIndex.build(
        [
            chunk("refund", number=1),
            chunk("refund shipping label carrier parcel", number=2),
            chunk("warranty", number=3),
        ]
    )
    found = scores(index, "refund")
    assert found[1] > found[2]
    assert found[2] == pytest.approx(expected(1, 5, 2.333333, df=2, count=3), rel=1e-5)


def test_a_heading_term_counts_heading_weight_times() -> None:
    index = LexicalIndex.build(
        [chunk("policy", "Refunds", number=1), chunk("refunds policy", number=2), chunk("warranty", number=3)]
    )
    found = scores(index, "refund")
    heading_length = HEADING_WEIGHT + 1
    average = (heading_length + 2 + 1) / 3
    assert found[1] == pytest.approx(
        expected(HEADING_WEIGHT, heading_length, average, df=2, count=3), rel=1e-5
    )
    assert found[2] == pytest.approx(expected(1, 2, average, df=2, count=3), rel=1e-5)
    assert found[1] > found[2]


def test_each_query_term_counts_once() -> None:
    index = LexicalIndex.build([chunk("refund policy", number=1), chunk("warranty", number=2)])
    assert scores(index, "refund refund refund") == scores(index, "refund")


def test_stemmed_and_folded_forms_match() -> None:
    index = LexicalIndex.build([chunk("Your card was charged twice", number=1), chunk("café menu", number=2)])
    assert list(scores(index, "charges")) == [1]
    assert list(scores(index, "CAFE")) == [2]


def test_results_are_best_first() -> None:
    index = LexicalIndex.build(
        [chunk("invoice", number=1), chunk("invoice download pdf", number=2), chunk("download", number=3)]
    )
    hits = index.search("download invoice pdf", 10)
    assert next(hit.chunk_id.int for hit in hits) == 2
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_ties_are_broken_by_chunk_id_whatever_the_build_order() -> None:
    chunks = [chunk("same words here", number=n) for n in (7, 3, 9, 1, 5)]
    orders = set()
    for seed in range(5):
        shuffled = chunks[:]
        random.Random(seed).shuffle(shuffled)
        orders.add(tuple(hit.chunk_id.int for hit in LexicalIndex.build(shuffled).search("words", 3)))
    assert orders == {(1, 3, 5)}


def test_same_chunks_give_the_same_results() -> None:
    chunks = [chunk(f"refund {'policy ' * (n % 4)} parcel {n}", number=n) for n in range(1, 60)]
    first = LexicalIndex.build(chunks).search("refund policy parcel", 20)
    assert LexicalIndex.build(list(reversed(chunks))).search("refund policy parcel", 20) == first


def test_hits_carry_their_document() -> None:
    index = LexicalIndex.build([chunk("warranty", number=1, document=42)])
    assert index.search("warranty", 1)[0].document_id == uuid.UUID(int=1_042)


@pytest.mark.parametrize(
    "query", ["", "   ", "the and of", "!!! ??? ###", "\x00\x01\x02", "🙂🙂", "unknownword"]
)
def test_queries_without_known_terms_find_nothing(query: str) -> None:
    index = LexicalIndex.build([chunk("refund policy", number=1)])
    assert index.search(query, 5) == []


def test_an_empty_index_finds_nothing() -> None:
    index = LexicalIndex.build([])
    assert len(index) == 0
    assert index.search("refund", 5) == []


def test_a_100_kb_query_is_fast_and_still_matches() -> None:
    index = LexicalIndex.build([chunk(f"parcel {n} refund policy", number=n) for n in range(1, 2_000)])
    query = "refund " + "lorem ipsum dolor sit amet consectetur " * 2_700
    assert len(query) > 100_000
    started = time.perf_counter()
    hits = index.search(query, 10)
    assert time.perf_counter() - started < 0.5
    assert len(hits) == 10


def test_only_the_rarest_query_terms_are_used_beyond_the_cap() -> None:
    chunks = [chunk(f"term{n}", number=n) for n in range(1, 101)]
    chunks.append(chunk(" ".join(["common"] + [f"term{n}" for n in range(1, 3)]), number=500))
    chunks += [chunk("common", number=600 + n) for n in range(20)]
    index = LexicalIndex.build(chunks)
    query = "common " + " ".join(f"term{n}" for n in range(1, 101))
    hits = index.search(query, 1_000)
    found = {hit.chunk_id.int for hit in hits}
    # "common" is the least rare term, so it is the one left out: no chunk only it matches is returned.
    assert not any(600 <= number < 620 for number in found)
    assert len(found - {500}) <= MAX_QUERY_TERMS


@pytest.mark.parametrize("k", [0, -1, True, 1.5])
def test_k_must_be_a_positive_integer(k: object) -> None:
    index = LexicalIndex.build([chunk("refund", number=1)])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search("refund", k)  # type: ignore[arg-type]  # deliberately wrong


def test_k_caps_the_results_and_may_exceed_the_matches() -> None:
    index = LexicalIndex.build([chunk(f"refund {n}", number=n) for n in range(1, 11)])
    assert len(index.search("refund", 3)) == 3
    assert len(index.search("refund", 1_000)) == 10


def test_repeated_chunk_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        LexicalIndex.build([chunk("a word", number=1), chunk("other words", number=1)])


def test_chunk_ids_ending_in_zero_bytes_survive_the_round_trip() -> None:
    chunk_id = uuid.UUID(bytes=b"\x12" * 8 + b"\x00" * 8)
    index = LexicalIndex.build(
        [IndexedChunk(chunk_id=chunk_id, document_id=chunk_id, heading="", text="refund")]
    )
    assert index.search("refund", 1)[0].chunk_id == chunk_id


def test_nbytes_grows_with_the_index() -> None:
    small = LexicalIndex.build([chunk(f"word{n} refund", number=n) for n in range(1, 10)])
    large = LexicalIndex.build([chunk(f"word{n} refund", number=n) for n in range(1, 5_000)])
    assert 0 < small.nbytes < large.nbytes
    assert len(large) == 4_999
