"""Building BM25 postings from chunks: text to term occurrences to per-term weighted postings.

The work per token is what cannot be avoided in Python: scanning the text into raw words
(one regex) and looking each up in a dict of distinct raw words. Each distinct word is analysed
once (folding is done by the scan, stemming and stopwords here), and everything after that is
numpy over int arrays: one int64 key per term occurrence, sorted in place and run-length
counted. Intermediate arrays are dropped once used, so a build's peak memory stays near 30
bytes a token on top of the chunks themselves.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hushdesk.agents.knowledge.ranking.analysis import terms_of_word, words
from hushdesk.agents.knowledge.ranking.hits import IndexedChunk

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Bm25Parameters:
    k1: float
    b: float
    heading_weight: float


@dataclass(frozen=True, slots=True)
class Postings:
    """``postings[offsets[t]:offsets[t + 1]]`` are the chunk rows holding term ``t``, in row
    order, and ``weights`` the same slice's BM25 scores for that term; ``idf`` is per term."""

    vocabulary: dict[str, int]
    offsets: Int64Array
    postings: Int32Array
    weights: Float32Array
    idf: Float32Array


def build_postings(chunks: Sequence[IndexedChunk], parameters: Bm25Parameters) -> Postings:
    """The BM25 postings of ``chunks``, with fields numbered 2 * row (heading) and 2 * row + 1 (body)."""
    word_index: dict[str, int] = {}
    word_ids = array("i")
    words_per_field = array("q")
    for chunk in chunks:
        for field in (chunk.heading, chunk.text):
            field_words = words(field)
            # Set and map operations run in C; the Python loop sees only words new to the corpus.
            # (set.difference probes the dict per element of the set; difference_update would
            # walk the whole dict every time.)
            for word in set(field_words).difference(word_index):
                word_index[word] = len(word_index)
            word_ids.extend(map(word_index.__getitem__, field_words))
            words_per_field.append(len(field_words))
    vocabulary, term_of_occurrence, field_of_occurrence = _term_occurrences(
        word_index, np.frombuffer(word_ids, dtype=np.int32), np.frombuffer(words_per_field, dtype=np.int64)
    )
    del word_index, word_ids
    return _weighted_postings(
        vocabulary, term_of_occurrence, field_of_occurrence, chunk_count=len(chunks), parameters=parameters
    )


def _term_occurrences(
    word_index: dict[str, int], word_ids: Int32Array, words_per_field: Int64Array
) -> tuple[dict[str, int], Int32Array, Int32Array]:
    """The vocabulary, and per term occurrence its term id and field, from the raw words' ids."""
    vocabulary: dict[str, int] = {}
    term_counts = np.zeros(len(word_index), dtype=np.int32)
    word_terms = array("i")
    for word, word_id in word_index.items():
        analysed = terms_of_word(word)
        term_counts[word_id] = len(analysed)
        word_terms.extend([vocabulary.setdefault(term, len(vocabulary)) for term in analysed])
    word_term_start = np.zeros(len(word_index) + 1, dtype=np.int64)
    np.cumsum(term_counts, out=word_term_start[1:])
    term_table = np.frombuffer(word_terms, dtype=np.int32)
    field_of_word = np.repeat(np.arange(words_per_field.size, dtype=np.int32), words_per_field)
    counts = term_counts[word_ids]
    # Most words give one term, stopwords none; only compounds and CJK runs give several.
    single = counts == 1
    terms = [term_table[word_term_start[word_ids[single]]]]
    fields = [field_of_word[single]]
    several = np.flatnonzero(counts > 1)
    if several.size:
        repeats = counts[several]
        starts = np.repeat(word_term_start[word_ids[several]] - np.cumsum(repeats) + repeats, repeats)
        terms.append(term_table[starts + np.arange(int(repeats.sum()))])
        fields.append(np.repeat(field_of_word[several], repeats))
    return vocabulary, np.concatenate(terms), np.concatenate(fields)


def _weighted_postings(
    vocabulary: dict[str, int],
    term_of_occurrence: Int32Array,
    field_of_occurrence: Int32Array,
    *,
    chunk_count: int,
    parameters: Bm25Parameters,
) -> Postings:
    field_count = 2 * chunk_count
    field_length = np.bincount(field_of_occurrence, minlength=field_count).reshape(chunk_count, 2)
    keys = term_of_occurrence.astype(np.int64)
    keys *= field_count
    keys += field_of_occurrence
    keys.sort()
    starts = _run_starts(keys)
    tf = np.diff(np.append(starts, keys.size)).astype(np.float32)
    field_keys = keys[starts]
    del keys, starts
    term = (field_keys // field_count).astype(np.int32)
    field = (field_keys - term.astype(np.int64) * field_count).astype(np.int32)
    del field_keys
    tf[field % 2 == 0] *= parameters.heading_weight
    chunk = field // 2
    del field
    # The heading and body entries of one (term, chunk) pair are adjacent: add them up.
    starts = _run_starts(term.astype(np.int64) * chunk_count + chunk)
    if starts.size:
        tf = np.add.reduceat(tf, starts)
    posting_term, posting_chunk = term[starts], chunk[starts]
    del term, chunk, starts
    document_frequency = np.bincount(posting_term, minlength=len(vocabulary))
    idf = np.log1p((chunk_count - document_frequency + 0.5) / (document_frequency + 0.5)).astype(np.float32)
    chunk_length = field_length[:, 0] * parameters.heading_weight + field_length[:, 1]
    average_length = float(chunk_length.mean()) if chunk_count else 0.0
    length_ratio = chunk_length / average_length if average_length > 0 else np.ones(chunk_count)
    length_norm = (parameters.k1 * (1.0 - parameters.b + parameters.b * length_ratio)).astype(np.float32)
    weights = tf * np.float32(parameters.k1 + 1.0)
    tf += length_norm[posting_chunk]
    weights /= tf
    weights *= idf[posting_term]
    offsets = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(document_frequency, out=offsets[1:])
    return Postings(vocabulary=vocabulary, offsets=offsets, postings=posting_chunk, weights=weights, idf=idf)


def _run_starts(sorted_keys: Int64Array) -> npt.NDArray[np.intp]:
    """Where each run of equal values in ``sorted_keys`` begins."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.concatenate((np.zeros(1, dtype=np.intp), np.flatnonzero(np.diff(sorted_keys)) + 1))
