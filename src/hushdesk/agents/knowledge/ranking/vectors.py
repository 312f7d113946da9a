"""Cosine similarity search over one agent's chunk vectors, exact, in memory.

The vectors are one float32 matrix with L2-normalised rows, so a search is one matrix-vector
product and a partial sort. Exact search stays fast enough at one agent's scale (100k chunks
of 256 dimensions is 100 MB and a few milliseconds a query); no approximate index is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hushdesk.agents.knowledge.ranking.chunk_table import ChunkTable, check_k
from hushdesk.agents.knowledge.ranking.hits import ChunkHit, IndexedChunk


def normalise_rows(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """``vectors`` (2-D) as float32 with each row scaled to length 1; zero rows stay zero."""
    matrix = np.array(vectors, dtype=np.float32, copy=True)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


class VectorIndex:
    """An immutable vector index; safe to search from several threads at once."""

    __slots__ = ("_matrix", "_table")

    def __init__(self, *, table: ChunkTable, matrix: npt.NDArray[np.float32]) -> None:
        self._table = table
        self._matrix = matrix

    @classmethod
    def build(cls, chunks: Sequence[IndexedChunk], vectors: npt.NDArray[np.floating]) -> VectorIndex:
        """Index ``chunks`` with ``vectors`` (row i is chunk i's vector; normalised here).

        Raises ValueError if ``vectors`` is not 2-D with one row per chunk and at least one
        column, holds a NaN or an infinity, or a chunk id repeats."""
        array = np.asarray(vectors)
        if array.ndim != 2 or array.shape[0] != len(chunks) or array.shape[1] < 1:
            raise ValueError(f"vectors must have shape ({len(chunks)}, dimension), not {array.shape}")
        if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
            raise ValueError("vectors must be finite floating-point numbers")
        return cls(table=ChunkTable(chunks), matrix=normalise_rows(array))

    def __len__(self) -> int:
        return len(self._table)

    @property
    def dimension(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def nbytes(self) -> int:
        """Memory held: the matrix and the chunk ids."""
        return int(self._matrix.nbytes + self._table.nbytes)

    def search(self, query_vector: npt.NDArray[np.floating], k: int) -> list[ChunkHit]:
        """The ``k`` chunks most similar (cosine) to ``query_vector``, best first, equal scores
        in chunk-id order. A zero query vector matches nothing. Raises ValueError unless ``k``
        is a positive integer and the query is a finite vector of the index's dimension."""
        check_k(k)
        query = np.asarray(query_vector, dtype=np.float32)
        if query.ndim == 2 and query.shape[0] == 1:
            query = query[0]  # one row of a batch of embeddings
        if query.shape != (self.dimension,):
            raise ValueError(f"query vector must have shape ({self.dimension},), not {query.shape}")
        if not np.isfinite(query).all():
            raise ValueError("query vector must be finite")
        norm = float(np.linalg.norm(query))
        if norm == 0.0 or len(self._table) == 0:
            return []
        scores = self._matrix @ (query / norm)
        return self._table.top(scores, None, k)
