"""bench/retrieval_eval.py on the labelled help centre (the product requirement: fused recall@5
at least the better of BM25 and embeddings alone), its chunker and metrics, and a small run of
bench/search_latency.py."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest

import search_latency
from retrieval_eval import (
    BM25,
    DEFAULT_SET,
    EMBEDDINGS,
    FUSED,
    Question,
    chunk_markdown,
    fusion_holds,
    load_corpus,
    load_questions,
    main,
    recall_at,
    reciprocal_rank,
    summarise,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, dict[str, float]], str, float]:
    out = tmp_path_factory.mktemp("eval") / "metrics.json"
    printed = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(printed):
        code = main(["--json", str(out), "--misses", "5"])
    seconds = time.perf_counter() - started
    return code, json.loads(out.read_text(encoding="utf-8"))["metrics"], printed.getvalue(), seconds


def test_fused_recall_at_5_is_at_least_the_better_method_alone(
    run: tuple[int, dict[str, dict[str, float]], str, float],
) -> None:
    code, metrics, _, _ = run
    assert code == 0
    assert metrics[FUSED]["recall@5"] >= max(metrics[BM25]["recall@5"], metrics[EMBEDDINGS]["recall@5"])


def test_every_method_retrieves_well_above_chance(
    run: tuple[int, dict[str, dict[str, float]], str, float],
) -> None:
    _, metrics, _, _ = run
    for method in (BM25, EMBEDDINGS, FUSED):
        assert (
            metrics[method]["recall@10"] >= metrics[method]["recall@5"] >= metrics[method]["recall@1"] > 0.5
        )
        assert 0.5 < metrics[method]["mrr@10"] <= 1.0


def test_the_run_prints_the_table_and_is_fast(
    run: tuple[int, dict[str, dict[str, float]], str, float],
) -> None:
    _, _, printed, seconds = run
    assert "recall@5" in printed
    assert "fused misses at 5" in printed
    assert seconds < 20


def test_fusion_check_fails_when_fusion_loses() -> None:
    worse = {BM25: {"recall@5": 0.8}, EMBEDDINGS: {"recall@5": 0.9}, FUSED: {"recall@5": 0.85}}
    assert not fusion_holds(worse)
    assert fusion_holds({**worse, FUSED: {"recall@5": 0.9}})


def test_the_labelled_set_is_consistent_and_large_enough() -> None:
    corpus = load_corpus(DEFAULT_SET)
    names = frozenset(corpus.document_names.values())
    questions = load_questions(DEFAULT_SET, names)
    assert len(names) >= 30
    assert len(questions) >= 120
    assert len({q.id for q in questions}) == len(questions)
    assert {name for q in questions for name in q.relevant} == names  # every document is asked about
    assert all(len(chunk.text) <= 1_600 for chunk in corpus.chunks)


def test_questions_naming_an_unknown_document_are_refused(tmp_path: Path) -> None:
    (tmp_path / "questions.jsonl").write_text(
        json.dumps({"id": "x", "question": "q", "relevant": ["nope.md"]}) + "\n"
    )
    with pytest.raises(ValueError, match="question x"):
        load_questions(tmp_path, frozenset({"real.md"}))


def test_markdown_chunks_follow_the_heading_path_and_split_long_sections() -> None:
    text = (
        "# Title\n\nIntro.\n\n## Part one\n\n"
        + "\n\n".join(["A paragraph of words. " * 10] * 8)
        + "\n\n### Deep\n\nEnd."
    )
    chunks = chunk_markdown(text)
    assert chunks[0] == ("Title", "Intro.")
    part_one = [body for heading, body in chunks if heading == "Title > Part one"]
    assert len(part_one) > 1
    assert all(len(body) <= 1_000 + 230 for body in part_one)
    assert chunks[-1] == ("Title > Part one > Deep", "End.")


def test_recall_counts_relevant_documents_up_to_the_depth() -> None:
    relevant = frozenset({"a.md", "b.md"})
    assert recall_at(["a.md", "x.md", "b.md"], relevant, 1) == 1.0
    assert recall_at(["x.md", "a.md", "y.md"], relevant, 2) == 0.5
    assert recall_at(["x.md", "a.md", "b.md"], relevant, 3) == 1.0


def test_reciprocal_rank_is_of_the_first_relevant_within_ten() -> None:
    relevant = frozenset({"b.md"})
    assert reciprocal_rank(["a.md", "b.md"], relevant) == 0.5
    assert reciprocal_rank([f"{n}.md" for n in range(10)] + ["b.md"], relevant) == 0.0


def test_summary_averages_over_questions() -> None:
    questions = [Question("1", "q", frozenset({"a.md"})), Question("2", "q", frozenset({"b.md"}))]
    summary = summarise([["a.md"], ["x.md", "b.md"]], questions)
    assert summary["recall@1"] == 0.5
    assert summary["recall@5"] == 1.0
    assert summary["mrr@10"] == 0.75


def test_latency_bench_measures_both_indexes_on_synthetic_chunks() -> None:
    rng = np.random.default_rng(7)
    material = search_latency.load_material(DEFAULT_SET, rng)
    chunks = search_latency.synthetic_chunks(material, 300, rng)
    assert len({chunk.chunk_id for chunk in chunks}) == 300
    assert len({chunk.document_id for chunk in chunks}) == 300 // search_latency.CHUNKS_PER_DOCUMENT
    assert all(200 <= len(chunk.text) <= 1_800 for chunk in chunks)
    query_vectors = search_latency.unit_vectors(len(material.questions), 16, rng)
    rows = search_latency.measure_size(300, material, query_vectors, rng)
    assert [row["index"] for row in rows] == ["bm25", "vectors", "both, fused, documents"]
    assert all(row["p95_ms"] >= row["p50_ms"] > 0 for row in rows)
    assert rows[0]["nbytes_mib"] > 0
    assert rows[0]["build_peak_mib"] >= rows[0]["traced_mib"] > 0
