"""The local embedding model: WordLlama's "l2_supercat" token embeddings (256 dimensions),
mean-pooled into one vector per text, read from the files inside the installed ``wordllama``
package (the optional ``embeddings`` extra).

The package itself is never imported: importing it configures the root logger
(``logging.basicConfig``) and pulls in ``requests``, and its loader fetches the tokenizer from
Hugging Face. Only its two data files are read, with ``tokenizers`` and ``safetensors``, and the
vectors are computed as ``WordLlamaInference.embed`` computes them (the mean of the text's token
embeddings, no special tokens), then L2-normalised. Loading makes no network connection and
writes no file.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hushdesk.agents.knowledge.ranking.vectors import normalise_rows

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_NAME = "wordllama-l2_supercat-256"
_TOKENIZER_FILE = Path("tokenizers", "l2_supercat_tokenizer_config.json")
_WEIGHTS_FILE = Path("weights", "l2_supercat_256.safetensors")
_TENSOR = "embedding.weight"
# A text is embedded by its beginning: chunks are far shorter, and a pasted 100 KB question
# would otherwise cost a 100 KB tokenisation and a matrix of all its tokens.
MAX_TEXT_CHARS = 8_192
_BATCH_SIZE = 64


class LocalModelUnavailable(RuntimeError):
    """The ``embeddings`` extra (the ``wordllama`` package and its data files) is not installed."""


def _model_dir() -> Path | None:
    # find_spec locates a top-level package without running its __init__.
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location)
        if (folder / _TOKENIZER_FILE).is_file() and (folder / _WEIGHTS_FILE).is_file():
            return folder
    return None


def local_model_available() -> bool:
    """Whether ``LocalEmbedder.load()`` can succeed: the model's files and their readers are installed."""
    readers = all(importlib.util.find_spec(name) is not None for name in ("tokenizers", "safetensors"))
    return readers and _model_dir() is not None


class LocalEmbedder:
    """Embeds texts on this machine. Implements ``EmbeddingProvider``. Safe to share between
    threads (the tokenizer is only read, the matrix never written)."""

    __slots__ = ("_embedding", "_tokenizer")

    def __init__(self, *, tokenizer: Tokenizer, embedding: npt.NDArray[np.float32]) -> None:
        self._tokenizer = tokenizer
        self._embedding = embedding

    @classmethod
    def load(cls) -> LocalEmbedder:
        """Read the model from the installed package (about half a second, 33 MB of memory).
        Raises LocalModelUnavailable if the extra is not installed or its files do not fit
        together."""
        folder = _model_dir()
        if folder is None or not local_model_available():
            raise LocalModelUnavailable(
                "the local embedding model is not installed: install Hushdesk with the 'embeddings' extra"
            )
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / _TOKENIZER_FILE))
        # Token counts must be the texts' own: no padding to the batch's longest, no cut.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        tensors = load_file(folder / _WEIGHTS_FILE)
        if _TENSOR not in tensors or tensors[_TENSOR].ndim != 2:
            raise LocalModelUnavailable(f"{folder / _WEIGHTS_FILE} holds no {_TENSOR} matrix")
        embedding = np.ascontiguousarray(tensors[_TENSOR], dtype=np.float32)
        if tokenizer.get_vocab_size() > embedding.shape[0]:
            raise LocalModelUnavailable("the model's tokenizer and embedding matrix do not match")
        return cls(tokenizer=tokenizer, embedding=embedding)

    @property
    def embedding_model(self) -> str:
        return MODEL_NAME

    @property
    def dimension(self) -> int:
        return int(self._embedding.shape[1])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One L2-normalised vector per text, in order (``EmbeddingProvider``)."""
        vectors: list[list[float]] = self.embed_array(texts).tolist()
        return vectors

    def embed_array(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Shape (len(texts), 256), float32, rows of length 1; a text without tokens (empty)
        gets the zero vector. Raises TypeError for a bare string (a sequence of characters)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        pooled = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), _BATCH_SIZE):
            batch = [text[:MAX_TEXT_CHARS] for text in texts[start : start + _BATCH_SIZE]]
            pooled[start : start + len(batch)] = self._token_sums(batch)
        # The mean and the sum of a text's token vectors point the same way: no division needed.
        return normalise_rows(pooled)

    def _token_sums(self, batch: list[str]) -> npt.NDArray[np.float32]:
        """The sum of each text's token embeddings, without padding the batch to its longest."""
        encodings = self._tokenizer.encode_batch(batch, add_special_tokens=False)
        lengths = np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)
        sums = np.zeros((len(batch), self.dimension), dtype=np.float32)
        total = int(lengths.sum())
        if total == 0:
            return sums
        ids = np.fromiter(
            itertools.chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=total
        )
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        present = lengths > 0
        # reduceat sums from each start to the next; starting only where a text has tokens keeps
        # empty texts from borrowing their neighbour's first token.
        sums[present] = np.add.reduceat(self._embedding[ids], starts[present], axis=0)
        return sums
