"""Retrieval quality on a labelled help centre: BM25 alone, local embeddings alone, and the two
fused, ranking documents for customer questions.

The set (bench/retrieval_set/) is a fictional company's help centre, docs/*.md, and
questions.jsonl, one ``{"id", "question", "relevant": [file names]}`` a line. Documents are
chunked here, simply: a chunk per section (Markdown heading), sections longer than
``CHUNK_CHARS`` split between paragraphs; each chunk's heading is its path of headings.

Each method retrieves ``CANDIDATES`` chunks; fusion combines the two candidate lists; the chunks
become a document ranking with ``rank_documents``. Metrics over questions:

- recall@k: the share of a question's relevant documents in the top k, out of at most k (so a
  question with three relevant documents has recall@1 of 1.0 when the first is relevant);
- MRR@10: the mean of 1/rank of the first relevant document, 0 beyond rank 10.

Exit status 1 if fused recall@5 is below the better of the two alone: fusion must not cost
quality. Usage: .venv/bin/python bench/retrieval_eval.py [SET_DIR] [--json OUT] [--misses N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import BENCH_DIR, print_table
from hushdesk.agents.knowledge.ranking import (
    ChunkHit,
    IndexedChunk,
    LexicalIndex,
    LocalEmbedder,
    VectorIndex,
    fuse,
    rank_documents,
)

DEFAULT_SET = BENCH_DIR / "retrieval_set"
CHUNK_CHARS = 1_000
CANDIDATES = 50
DEPTHS = (1, 5, 10)
MRR_DEPTH = 10
BM25, EMBEDDINGS, FUSED = "bm25", "embeddings", "fused"
_NAMESPACE = uuid.UUID("6f1c3f0e-8d3b-4c55-9a57-2f4b8f0d7e21")
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    relevant: frozenset[str]


@dataclass(frozen=True, slots=True)
class Corpus:
    chunks: tuple[IndexedChunk, ...]
    document_names: Mapping[uuid.UUID, str]


def document_id_of(name: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, name)


def chunk_markdown(text: str) -> list[tuple[str, str]]:
    """(heading path, body) per section of ``text``, long sections split between paragraphs."""
    sections: list[tuple[str, list[str]]] = []
    path: list[str] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            del path[len(match.group(1)) - 1 :]
            path.append(match.group(2))
            sections.append((" > ".join(path), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            sections.append(("", [line]))
    chunks: list[tuple[str, str]] = []
    for heading, lines in sections:
        paragraphs = [p.strip() for p in "\n".join(lines).split("\n\n") if p.strip()]
        piece = ""
        for paragraph in paragraphs:
            if piece and len(piece) + len(paragraph) > CHUNK_CHARS:
                chunks.append((heading, piece))
                piece = ""
            piece = f"{piece}\n\n{paragraph}" if piece else paragraph
        if piece:
            chunks.append((heading, piece))
    return chunks


def load_corpus(set_dir: Path) -> Corpus:
    chunks: list[IndexedChunk] = []
    names: dict[uuid.UUID, str] = {}
    for path in sorted((set_dir / "docs").glob("*.md")):
        document_id = document_id_of(path.name)
        names[document_id] = path.name
        for number, (heading, body) in enumerate(chunk_markdown(path.read_text(encoding="utf-8"))):
            chunk_id = uuid.uuid5(document_id, str(number))
            chunks.append(
                IndexedChunk(chunk_id=chunk_id, document_id=document_id, heading=heading, text=body)
            )
    return Corpus(chunks=tuple(chunks), document_names=names)


def load_questions(set_dir: Path, known: frozenset[str]) -> list[Question]:
    """Raises ValueError, naming the question, for a relevant document that does not exist."""
    questions: list[Question] = []
    for line in (set_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        relevant = frozenset(raw["relevant"])
        if not relevant or not relevant <= known:
            raise ValueError(f"question {raw['id']}: unknown relevant documents {sorted(relevant - known)}")
        questions.append(Question(id=raw["id"], text=raw["question"], relevant=relevant))
    return questions


def recall_at(ranked: Sequence[str], relevant: frozenset[str], depth: int) -> float:
    return len(relevant.intersection(ranked[:depth])) / min(len(relevant), depth)


def reciprocal_rank(ranked: Sequence[str], relevant: frozenset[str], depth: int = MRR_DEPTH) -> float:
    for rank, name in enumerate(ranked[:depth], start=1):
        if name in relevant:
            return 1.0 / rank
    return 0.0


def summarise(rankings: Sequence[Sequence[str]], questions: Sequence[Question]) -> dict[str, float]:
    """recall@k for each of DEPTHS and MRR@10, averaged over ``questions``."""
    count = len(questions)
    summary = {
        f"recall@{depth}": sum(
            recall_at(r, q.relevant, depth) for r, q in zip(rankings, questions, strict=True)
        )
        / count
        for depth in DEPTHS
    }
    summary[f"mrr@{MRR_DEPTH}"] = (
        sum(reciprocal_rank(r, q.relevant) for r, q in zip(rankings, questions, strict=True)) / count
    )
    return summary


Retriever = Callable[[str], list[ChunkHit]]


def retrievers(corpus: Corpus, embedder: LocalEmbedder) -> dict[str, Retriever]:
    lexical = LexicalIndex.build(corpus.chunks)
    vectors = VectorIndex.build(
        corpus.chunks, embedder.embed_array([f"{c.heading}\n{c.text}" for c in corpus.chunks])
    )

    def by_words(question: str) -> list[ChunkHit]:
        return lexical.search(question, CANDIDATES)

    def by_meaning(question: str) -> list[ChunkHit]:
        return vectors.search(embedder.embed_array([question])[0], CANDIDATES)

    def fused(question: str) -> list[ChunkHit]:
        return fuse(by_words(question), by_meaning(question), k=CANDIDATES)

    return {BM25: by_words, EMBEDDINGS: by_meaning, FUSED: fused}


def evaluate(set_dir: Path) -> tuple[dict[str, dict[str, float]], dict[str, list[list[str]]], list[Question]]:
    """Metrics per method, each question's document ranking per method, and the questions."""
    corpus = load_corpus(set_dir)
    questions = load_questions(set_dir, frozenset(corpus.document_names.values()))
    methods = retrievers(corpus, LocalEmbedder.load())
    rankings: dict[str, list[list[str]]] = {}
    for method, retrieve in methods.items():
        rankings[method] = [
            [corpus.document_names[d.document_id] for d in rank_documents(retrieve(q.text), k=MRR_DEPTH)]
            for q in questions
        ]
    return {method: summarise(r, questions) for method, r in rankings.items()}, rankings, questions


def fusion_holds(metrics: Mapping[str, Mapping[str, float]]) -> bool:
    return metrics[FUSED]["recall@5"] >= max(metrics[BM25]["recall@5"], metrics[EMBEDDINGS]["recall@5"])


def print_misses(rankings: Mapping[str, list[list[str]]], questions: Sequence[Question], limit: int) -> None:
    misses = [(q, r) for q, r in zip(questions, rankings[FUSED], strict=True) if not q.relevant & set(r[:5])]
    print(f"\nfused misses at 5 ({len(misses)}):")
    for question, ranked in misses[:limit]:
        print(f"  {question.id} {question.text[:70]!r} wanted {sorted(question.relevant)} got {ranked[:3]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--json", type=Path, help="also write the metrics to this file")
    parser.add_argument("--misses", type=int, default=0, help="list up to N questions fusion misses at 5")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    metrics, rankings, questions = evaluate(arguments.set_dir)
    names = [f"recall@{depth}" for depth in DEPTHS] + [f"mrr@{MRR_DEPTH}"]
    print(f"{len(questions)} questions, {CANDIDATES} candidate chunks per method")
    print_table(["method", *names], [[m, *(f"{metrics[m][n]:.3f}" for n in names)] for m in metrics])
    if arguments.misses:
        print_misses(rankings, questions, arguments.misses)
    holds = fusion_holds(metrics)
    verdict = "yes" if holds else "NO"
    print(f"\nfused recall@5 >= max(bm25, embeddings): {verdict} ({time.perf_counter() - started:.1f} s)")
    if arguments.json:
        arguments.json.write_text(
            json.dumps({"questions": len(questions), "metrics": metrics}, indent=2) + "\n"
        )
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
