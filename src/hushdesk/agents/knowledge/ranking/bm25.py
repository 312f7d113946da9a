"""Okapi BM25 over one agent's chunks, in memory, with the heading as a weighted field.

Score of chunk c for query terms q (each distinct term once):

    sum over t in q of  idf(t) * tf(t, c) * (K1 + 1) / (tf(t, c) + K1 * (1 - B + B * len(c) / avglen))
    idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

with the BM25F simplification for fields: a heading term counts HEADING_WEIGHT times in both
tf and len, so a term in "Billing > Invoices" weighs as if written HEADING_WEIGHT times in the
body. K1 = 1.2 (how quickly repeating a term stops adding) and B = 0.75 (how much longer chunks
are discounted) are the usual values; this idf never goes negative, so a term in most chunks
still adds a little.

Layout: term -> id in a dict; per term a slice of ``postings`` (int32 chunk rows) and of
``weights`` (float32, the whole per-term score above, computed at build). A search adds the
weights of the query's terms into one array with ``numpy.bincount`` and takes the best k.
The build is in ``postings``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from hushdesk.agents.knowledge.ranking.analysis import Analyzer
from hushdesk.agents.knowledge.ranking.chunk_table import ChunkTable, check_k
from hushdesk.agents.knowledge.ranking.hits import ChunkHit, IndexedChunk
from hushdesk.agents.knowledge.ranking.postings import Bm25Parameters, Postings, build_postings

K1 = 1.2
B = 0.75
HEADING_WEIGHT = 2.0
# Questions longer than this are searched by their beginning; of their distinct terms the rarest
# MAX_QUERY_TERMS are kept, so a pasted 100 KB log costs no more than a long question.
MAX_QUERY_CHARS = 4_096
MAX_QUERY_TERMS = 64
PARAMETERS = Bm25Parameters(k1=K1, b=B, heading_weight=HEADING_WEIGHT)


class LexicalIndex:
    """An immutable BM25 index; safe to search from several threads at once."""

    __slots__ = ("_analyzer", "_nbytes", "_postings", "_table")

    def __init__(self, *, table: ChunkTable, postings: Postings) -> None:
        self._analyzer = Analyzer()
        self._table = table
        self._postings = postings
        arrays = (
            postings.offsets.nbytes + postings.postings.nbytes + postings.weights.nbytes + postings.idf.nbytes
        )
        # The dict, its keys, and one int object per id (ids above 256 are not shared).
        terms = sys.getsizeof(postings.vocabulary) + sum(sys.getsizeof(term) for term in postings.vocabulary)
        terms += 28 * max(len(postings.vocabulary) - 257, 0)
        self._nbytes = int(arrays + terms + table.nbytes + self._analyzer.max_cache_nbytes)

    @classmethod
    def build(cls, chunks: Sequence[IndexedChunk]) -> LexicalIndex:
        """Index ``chunks`` (heading and text). Raises ValueError if a chunk id repeats."""
        table = ChunkTable(chunks)
        return cls(table=table, postings=build_postings(chunks, PARAMETERS))

    def __len__(self) -> int:
        return len(self._table)

    @property
    def nbytes(self) -> int:
        """Approximate memory held: the arrays, the chunk ids, the term dictionary and the
        query analyzer's cache at its bound."""
        return self._nbytes

    def search(self, query: str, k: int) -> list[ChunkHit]:
        """The best ``k`` chunks for ``query``, best first, equal scores in chunk-id order.
        Only chunks sharing a term with the query are returned: none for an empty query or one
        without known terms. Raises ValueError unless ``k`` is a positive integer."""
        check_k(k)
        index = self._postings
        term_ids = [
            index.vocabulary[term]
            for term in self._analyzer.unique_terms(query[:MAX_QUERY_CHARS])
            if term in index.vocabulary
        ]
        if not term_ids:
            return []
        if len(term_ids) > MAX_QUERY_TERMS:
            term_ids = sorted(term_ids, key=lambda term_id: -index.idf[term_id])[:MAX_QUERY_TERMS]
        slices = [slice(index.offsets[term_id], index.offsets[term_id + 1]) for term_id in term_ids]
        rows = np.concatenate([index.postings[where] for where in slices])
        weights = np.concatenate([index.weights[where] for where in slices])
        # With weights, bincount sums them as float64 (numpy's stubs say int).
        scores = np.asarray(np.bincount(rows, weights=weights, minlength=len(self._table)), dtype=np.float64)
        return self._table.top(scores, np.flatnonzero(scores), k)
