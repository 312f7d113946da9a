"""LocalEmbedder: the model loads from the installed package's files, without any network or
file written, and embeds exactly as WordLlama's own inference does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pytest_socket import SocketConnectBlockedError

from hushdesk.agents.knowledge.ranking import LocalEmbedder, LocalModelUnavailable, local_model_available
from hushdesk.agents.knowledge.ranking import local_model as local_model_module
from hushdesk.agents.providers.base import EmbeddingProvider

REPO_ROOT = Path(__file__).resolve().parents[3]

# Run in a fresh interpreter: an audit hook refuses every socket operation and records every
# file opened for writing, and nothing of wordllama has been imported before.
_LOAD_AND_WATCH = textwrap.dedent(
    """
    import json, os, sys

    writes = []

    def watch(event, arguments):
        if event.startswith("socket."):
            raise RuntimeError("network use: " + event)
        if event == "open":
            path, mode, flags = arguments
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
            )
            if writing:
                writes.append(str(path))

    sys.addaudithook(watch)
    import logging
    from hushdesk.agents.knowledge.ranking import LocalEmbedder

    vectors = LocalEmbedder.load().embed_array(["How do I reset my password?"])
    if sys.argv[1:] == ["--positive-control"]:
        with open("probe.txt", "w") as probe:
            probe.write("written")
    print(json.dumps({
        "writes": writes,
        "imported": sorted(m for m in ("wordllama", "requests", "huggingface_hub") if m in sys.modules),
        "root_handlers": len(logging.getLogger().handlers),
        "shape": list(vectors.shape),
    }))
    """
)

_COMPARE_WITH_WORDLLAMA = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from tokenizers import Tokenizer
    from hushdesk.agents.knowledge.ranking import LocalEmbedder

    ours = LocalEmbedder.load()
    texts = json.loads(sys.argv[1])
    mine = ours.embed_array(texts)
    from wordllama.inference import WordLlamaInference

    theirs = WordLlamaInference(ours._embedding, Tokenizer.from_str(ours._tokenizer.to_str()))
    reference = theirs.embed(texts, norm=True)
    print(float(np.abs(mine - reference).max()))
    """
)


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder.load()


def _run(script: str, *arguments: str, home: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "XDG_"))}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "PYTHONDONTWRITEBYTECODE": "1"}
    completed = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip().splitlines()[-1]


def test_loading_uses_no_network_writes_no_file_and_imports_no_wordllama(tmp_path: Path) -> None:
    report = json.loads(_run(_LOAD_AND_WATCH, home=tmp_path))
    assert report["writes"] == []
    assert report["imported"] == []  # wordllama's __init__ would configure the root logger
    assert report["root_handlers"] == 0
    assert report["shape"] == [1, 256]
    assert list(tmp_path.iterdir()) == []


def test_the_watch_sees_a_file_written(tmp_path: Path) -> None:
    report = json.loads(_run(_LOAD_AND_WATCH, "--positive-control", home=tmp_path))
    assert [Path(path).name for path in report["writes"]] == ["probe.txt"]


def test_loading_works_with_outbound_connections_blocked() -> None:
    # pytest-socket guards this process: it warns, then refuses the connection.
    with pytest.raises(SocketConnectBlockedError), pytest.warns(UserWarning, match="socket"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    assert LocalEmbedder.load().embed_array(["hello"]).shape == (1, 256)


def test_vectors_equal_wordllamas_own_inference(tmp_path: Path) -> None:
    texts = ["Download your invoice", "wachtwoord vergeten", "a much longer text about resets " * 30, "2FA"]
    assert float(_run(_COMPARE_WITH_WORDLLAMA, json.dumps(texts), home=tmp_path)) < 1e-5


def test_vectors_are_float32_unit_rows_in_order(embedder: LocalEmbedder) -> None:
    texts = ["refund policy", "hub blinking orange", "refund policy"]
    vectors = embedder.embed_array(texts)
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, embedder.dimension)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert np.array_equal(vectors[0], vectors[2])


def test_batches_give_the_same_vectors_as_one_at_a_time(embedder: LocalEmbedder) -> None:
    texts = [f"question number {n} about shipping" for n in range(150)]
    together = embedder.embed_array(texts)
    alone = np.vstack([embedder.embed_array([text]) for text in texts[::37]])
    assert np.allclose(together[::37], alone, atol=1e-6)


def test_a_text_without_tokens_gets_the_zero_vector(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed_array(["", "refund", ""])
    assert not vectors[0].any()
    assert not vectors[2].any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed_array([]).shape == (0, embedder.dimension)


def test_similar_questions_are_closer_than_unrelated_ones(embedder: LocalEmbedder) -> None:
    reset, forgot, shipping = embedder.embed_array(
        ["How do I reset my password?", "I forgot my password", "How long does delivery to Germany take?"]
    )
    assert float(reset @ forgot) > float(reset @ shipping)


def test_long_texts_are_embedded_by_their_beginning(embedder: LocalEmbedder) -> None:
    beginning = "refund policy " * (local_model_module.MAX_TEXT_CHARS // 14 + 1)
    long_text = beginning + "completely different words about firmware " * 2_000
    assert np.allclose(
        embedder.embed_array([long_text]),
        embedder.embed_array([long_text[: local_model_module.MAX_TEXT_CHARS]]),
    )


def test_a_bare_string_is_refused(embedder: LocalEmbedder) -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        embedder.embed_array("refund")


def test_it_is_an_embedding_provider(embedder: LocalEmbedder) -> None:
    provider: EmbeddingProvider = embedder
    vectors = provider.embed(["refund", "warranty"])
    assert provider.embedding_model == "wordllama-l2_supercat-256"
    assert len(vectors) == 2
    assert all(len(vector) == 256 for vector in vectors)
    assert all(isinstance(value, float) for value in vectors[0])


def test_availability_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_model_available()
    monkeypatch.setattr(local_model_module, "_model_dir", lambda: None)
    assert not local_model_available()
    with pytest.raises(LocalModelUnavailable, match="'embeddings' extra"):
        LocalEmbedder.load()
