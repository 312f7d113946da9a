"""The chunk identities an index holds, and the one way its searches pick the best k.

Ids are kept as 16-byte numpy strings rather than ``uuid.UUID`` objects (about a tenth of the
memory at 100k chunks); ``UUID`` objects are made only for the hits returned. Ties in score are
broken by chunk id, so the order of results does not depend on the order the chunks were given
in (which is whatever order the database returned them).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hushdesk.agents.knowledge.ranking.hits import ChunkHit, IndexedChunk

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


def check_k(k: int) -> None:
    """Raises ValueError unless ``k`` is a positive integer."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")


class ChunkTable:
    """The ids of an index's chunks, by position (the row of the chunk in the index)."""

    __slots__ = ("_chunk_ids", "_document_ids", "_tiebreak")

    def __init__(self, chunks: Sequence[IndexedChunk]) -> None:
        """Raises ValueError if a chunk id appears twice."""
        self._chunk_ids = np.array([chunk.chunk_id.bytes for chunk in chunks], dtype="S16")
        self._document_ids = np.array([chunk.document_id.bytes for chunk in chunks], dtype="S16")
        if np.unique(self._chunk_ids).size != self._chunk_ids.size:
            raise ValueError("chunk ids must be unique within an index")
        # Position of each row in chunk-id order: the secondary sort key of every search.
        order = np.argsort(self._chunk_ids, kind="stable")
        self._tiebreak = np.empty(len(chunks), dtype=np.int32)
        self._tiebreak[order] = np.arange(len(chunks), dtype=np.int32)

    def __len__(self) -> int:
        return int(self._chunk_ids.size)

    @property
    def nbytes(self) -> int:
        return int(self._chunk_ids.nbytes + self._document_ids.nbytes + self._tiebreak.nbytes)

    def top(self, scores: FloatArray, candidates: IndexArray | None, k: int) -> list[ChunkHit]:
        """The best ``k`` of ``candidates`` (row numbers; None for every row) by ``scores``
        (indexed by row), best first, equal scores in chunk-id order."""
        check_k(k)
        candidate_scores = scores if candidates is None else scores[candidates]
        if candidate_scores.size == 0:
            return []
        if candidate_scores.size > k:
            # Everything scoring at least the k-th best, so that ties at the cut are resolved
            # by chunk id rather than by whatever the partition happened to pick.
            cut = candidate_scores.size - k
            kth = np.partition(candidate_scores, cut)[cut]
            keep = np.flatnonzero(candidate_scores >= kth)
            candidates = keep if candidates is None else candidates[keep]
            candidate_scores = candidate_scores[keep]
        elif candidates is None:
            candidates = np.arange(candidate_scores.size)
        order = np.lexsort((self._tiebreak[candidates], -candidate_scores))[:k]
        return [
            ChunkHit(
                chunk_id=_uuid_of(self._chunk_ids[row]),
                document_id=_uuid_of(self._document_ids[row]),
                score=float(candidate_scores[position]),
            )
            for position, row in zip(order.tolist(), candidates[order].tolist(), strict=True)
        ]


def _uuid_of(value: np.bytes_) -> uuid.UUID:
    # numpy drops trailing NUL bytes of fixed-width byte strings when they are read back.
    return uuid.UUID(bytes=bytes(value).ljust(16, b"\x00"))
