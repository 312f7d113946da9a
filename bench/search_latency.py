"""Search latency, build time and index memory for one agent at 1k, 10k and 100k chunks.

Chunks are synthetic but shaped like a help centre: their words are drawn from a Zipfian
distribution (exponent ``ZIPF_EXPONENT``) over a vocabulary of ``VOCABULARY_SIZE`` words, the
most frequent being bench/retrieval_set's own words in their order of frequency there, the rest
made-up words for the long tail; lengths are about 300 to 1,600 characters (a word count
drawn uniformly, at six characters a word; 930 on average), in sentences of 8 to 20 words;
headings are the set's own heading paths; five chunks to a document.
Queries are the set's questions, each searched twice, the first pass untimed (warm-up).

Vectors: chunk vectors are random unit vectors (search cost does not depend on their values);
query vectors are the local model's embeddings of the questions. The local model's throughput
is measured apart, on 1,000 synthetic chunks.

Memory is reported two ways: ``nbytes`` (the index's own estimate: numpy arrays' nbytes plus the
term dictionary's ``sys.getsizeof``) and ``traced`` (tracemalloc: what is still allocated after
the build, with the index alive, and the peak during the build, in a second build, since tracing
slows the first down). Times with ``time.perf_counter``; latency of one search, k=50.

Usage: .venv/bin/python bench/search_latency.py [--sizes 1000,10000,100000] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness import machine_facts, median, print_table
from hushdesk.agents.knowledge.ranking import (
    IndexedChunk,
    LexicalIndex,
    LocalEmbedder,
    VectorIndex,
    fuse,
    rank_documents,
)
from retrieval_eval import DEFAULT_SET, chunk_markdown

SIZES = (1_000, 10_000, 100_000)
VOCABULARY_SIZE = 60_000
ZIPF_EXPONENT = 1.07
CHUNKS_PER_DOCUMENT = 5
K = 50
MiB = 1024 * 1024
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+")
_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ber",
    "dan",
    "fel",
    "gor",
    "hin",
    "mar",
    "pol",
    "qui",
)


@dataclass(frozen=True, slots=True)
class Material:
    vocabulary: npt.NDArray[np.str_]
    cumulative: npt.NDArray[np.float64]
    headings: tuple[str, ...]
    questions: tuple[str, ...]


def load_material(set_dir: Path, rng: np.random.Generator) -> Material:
    texts = [path.read_text(encoding="utf-8") for path in sorted((set_dir / "docs").glob("*.md"))]
    counts = Counter(word.lower() for text in texts for word in _WORD.findall(text))
    words = [word for word, _ in counts.most_common()]
    while len(words) < VOCABULARY_SIZE:
        length = int(rng.integers(2, 5))
        words.append("".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), length)))
    ranks = np.arange(1, VOCABULARY_SIZE + 1, dtype=np.float64)
    weights = ranks**-ZIPF_EXPONENT
    headings = tuple(sorted({heading for text in texts for heading, _ in chunk_markdown(text) if heading}))
    lines = (set_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = tuple(json.loads(line)["question"] for line in lines if line.strip())
    return Material(
        vocabulary=np.array(words[:VOCABULARY_SIZE]),
        cumulative=np.cumsum(weights / weights.sum()),
        headings=headings,
        questions=questions,
    )


def synthetic_chunks(material: Material, count: int, rng: np.random.Generator) -> list[IndexedChunk]:
    lengths = rng.integers(300, 1_601, count) // 6  # about 6 characters a word with its space
    draws = np.searchsorted(material.cumulative, rng.random(int(lengths.sum())))
    words = material.vocabulary[np.minimum(draws, VOCABULARY_SIZE - 1)].tolist()
    chunks: list[IndexedChunk] = []
    position = 0
    document_id = uuid.uuid4()
    for number, length in enumerate(lengths.tolist()):
        if number % CHUNKS_PER_DOCUMENT == 0:
            document_id = uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | number)
        sentences: list[str] = []
        end = position + length
        while position < end:
            size = min(int(rng.integers(8, 21)), end - position)
            sentences.append(" ".join(words[position : position + size]).capitalize() + ".")
            position += size
        heading = material.headings[int(rng.integers(0, len(material.headings)))]
        chunks.append(
            IndexedChunk(
                chunk_id=uuid.UUID(int=number + 1),
                document_id=document_id,
                heading=heading,
                text=" ".join(sentences),
            )
        )
    return chunks


def latencies_ms(search: Callable[[int], object], count: int) -> tuple[float, float]:
    """p50 and p95 of ``search(i)`` for i in range(count), after one untimed pass."""
    for i in range(count):
        search(i)
    timings = []
    for i in range(count):
        started = time.perf_counter()
        search(i)
        timings.append((time.perf_counter() - started) * 1000)
    return median(timings), float(np.percentile(timings, 95))


def traced_build(build: Callable[[], object]) -> tuple[float, float]:
    """(MiB still allocated after ``build`` with its result alive, MiB at the peak)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        current, peak = tracemalloc.get_traced_memory()
        del built
    finally:
        tracemalloc.stop()
    return (current - before) / MiB, (peak - before) / MiB


def timed(build: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = build()
    return result, time.perf_counter() - started


def unit_vectors(count: int, dimension: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    vectors = rng.standard_normal((count, dimension), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def measure_size(
    count: int, material: Material, query_vectors: npt.NDArray[np.float32], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """One row per index (bm25, vectors) and one for both searches fused into documents."""
    chunks = synthetic_chunks(material, count, rng)
    questions = material.questions
    lexical, lexical_seconds = timed(lambda: LexicalIndex.build(chunks))
    lexical_traced = traced_build(lambda: LexicalIndex.build(chunks))
    matrix = unit_vectors(count, query_vectors.shape[1], rng)
    vectors, vector_seconds = timed(lambda: VectorIndex.build(chunks, matrix))
    vector_traced = traced_build(lambda: VectorIndex.build(chunks, matrix))

    def fused(i: int) -> object:
        hits = fuse(lexical.search(questions[i], K), vectors.search(query_vectors[i], K), k=K)
        return rank_documents(hits, k=10)

    rows: list[dict[str, Any]] = []
    for name, built, seconds, traced, search in (
        ("bm25", lexical, lexical_seconds, lexical_traced, lambda i: lexical.search(questions[i], K)),
        ("vectors", vectors, vector_seconds, vector_traced, lambda i: vectors.search(query_vectors[i], K)),
    ):
        p50, p95 = latencies_ms(search, len(questions))
        rows.append(
            {
                "index": name,
                "chunks": count,
                "build_s": seconds,
                "nbytes_mib": built.nbytes / MiB,
                "traced_mib": traced[0],
                "build_peak_mib": traced[1],
                "p50_ms": p50,
                "p95_ms": p95,
            }
        )
    p50, p95 = latencies_ms(fused, len(questions))
    rows.append({"index": "both, fused, documents", "chunks": count, "p50_ms": p50, "p95_ms": p95})
    return rows


def measure_model(embedder: LocalEmbedder, material: Material, rng: np.random.Generator) -> dict[str, float]:
    chunks = synthetic_chunks(material, 1_000, rng)
    texts = [f"{chunk.heading}\n{chunk.text}" for chunk in chunks]
    _, seconds = timed(lambda: embedder.embed_array(texts))
    p50, p95 = latencies_ms(lambda i: embedder.embed_array([material.questions[i]]), len(material.questions))
    return {"chunks_per_s": len(texts) / seconds, "query_p50_ms": p50, "query_p95_ms": p95}


def _cell(row: dict[str, Any], key: str, digits: int) -> str:
    return f"{row[key]:.{digits}f}" if key in row else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--seed", type=int, default=20_240_601)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args(argv)
    rng = np.random.default_rng(arguments.seed)
    material = load_material(DEFAULT_SET, rng)
    (embedder, load_seconds) = timed(LocalEmbedder.load)
    query_vectors = embedder.embed_array(list(material.questions))
    model = {"load_s": load_seconds, **measure_model(embedder, material, rng)}
    rows = [
        row
        for size in (int(s) for s in arguments.sizes.split(","))
        for row in measure_size(size, material, query_vectors, rng)
    ]
    facts = machine_facts()
    machine = f"{facts['cpu_model']}, {facts['nproc']} cores, Python {facts['python']}"
    print(f"{machine}; {len(material.questions)} queries, k={K}")
    headers = ["index", "chunks", "build s", "nbytes MiB", "traced MiB", "build peak MiB", "p50 ms", "p95 ms"]
    keys = [
        ("build_s", 2),
        ("nbytes_mib", 1),
        ("traced_mib", 1),
        ("build_peak_mib", 1),
        ("p50_ms", 2),
        ("p95_ms", 2),
    ]
    print_table(
        headers,
        [[row["index"], f"{row['chunks']:,}", *(_cell(row, key, d) for key, d in keys)] for row in rows],
    )
    print(
        f"\nlocal model: loads in {model['load_s']:.2f} s, embeds {model['chunks_per_s']:.0f} chunks/s, "
        f"a question in {model['query_p50_ms']:.2f} ms p50 ({model['query_p95_ms']:.2f} ms p95)"
    )
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"machine": facts, "rows": rows, "local_model": model}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
