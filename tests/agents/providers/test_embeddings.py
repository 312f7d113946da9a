"""Embeddings through the OpenAI embeddings endpoint, for all three OpenAI-family kinds."""

from __future__ import annotations

import pytest

from hushdesk.agents.providers.errors import ProviderRateLimited, ProviderRequestRejected, ProviderUnavailable
from hushdesk.agents.providers.openai_chat import (
    EMBEDDING_BATCH_SIZE,
    OpenAIChatProvider,
    build_openai_client,
)
from hushdesk.agents.providers.registry import (
    ProviderSettings,
    build_embedding_provider,
    check_provider_settings,
)
from hushdesk.agents.providers.retries import NO_RETRIES, RetryPolicy
from tests.agents.providers.wire import (
    API_KEY,
    Script,
    embeddings_reply,
    guarded_client,
    json_reply,
    openai_error,
)


def settings(kind: str = "openai", **changes: str) -> ProviderSettings:
    values: dict[str, str] = {
        "kind": kind,
        "model": "gpt-4o-mini",
        "embedding_model": "text-embedding-3-small",
    }
    if kind == "openai":
        values["data_region"] = "us"
    values.update(changes)
    return check_provider_settings(**values)


def test_embeddings_request_names_the_model_and_sends_every_text() -> None:
    script = Script(embeddings_reply([[0.1, 0.2], [0.3, 0.4]]))
    embedder = build_embedding_provider(
        settings(), api_key=API_KEY, http_client=guarded_client(script), retry_policy=NO_RETRIES
    )
    assert embedder is not None
    vectors = embedder.embed(["reset password", "refund policy"])
    assert vectors == [[0.1, 0.2], [0.3, 0.4]]
    sent = script.requests[0]
    assert str(sent.url) == "https://api.openai.com/v1/embeddings"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert script.body() == {
        "model": "text-embedding-3-small",
        "input": ["reset password", "refund policy"],
        "encoding_format": "float",
    }


def test_vectors_come_back_in_the_order_of_the_texts_whatever_the_answer_order() -> None:
    script = Script(embeddings_reply([[1.0], [2.0], [3.0]], order=[2, 0, 1]))
    embedder = build_embedding_provider(settings(), api_key=API_KEY, http_client=guarded_client(script))
    assert embedder is not None
    assert embedder.embed(["a", "b", "c"]) == [[1.0], [2.0], [3.0]]


def test_many_texts_are_sent_in_batches() -> None:
    count = EMBEDDING_BATCH_SIZE + 3
    script = Script(
        embeddings_reply([[float(i)] for i in range(EMBEDDING_BATCH_SIZE)]), embeddings_reply([[7.0]] * 3)
    )
    embedder = build_embedding_provider(settings(), api_key=API_KEY, http_client=guarded_client(script))
    assert embedder is not None
    vectors = embedder.embed([f"text {i}" for i in range(count)])
    assert len(vectors) == count
    assert [len(script.body(i)["input"]) for i in range(script.calls)] == [EMBEDDING_BATCH_SIZE, 3]


def test_no_texts_send_no_request() -> None:
    script = Script(embeddings_reply([]))
    embedder = build_embedding_provider(settings(), api_key=API_KEY, http_client=guarded_client(script))
    assert embedder is not None
    assert embedder.embed([]) == []
    assert script.calls == 0


def test_an_answer_without_one_vector_per_text_is_refused() -> None:
    script = Script(embeddings_reply([[0.5]]))
    embedder = build_embedding_provider(
        settings(), api_key=API_KEY, http_client=guarded_client(script), retry_policy=NO_RETRIES
    )
    assert embedder is not None
    with pytest.raises(ProviderUnavailable, match="one embedding per text"):
        embedder.embed(["a", "b"])


def test_azure_embeddings_go_to_the_embedding_deployment() -> None:
    script = Script(embeddings_reply([[0.5, 0.5]]))
    azure = settings(
        "azure-openai",
        model="support-gpt4o",
        embedding_model="support-embeddings",
        base_url="https://contoso-support.openai.azure.com",
        api_version="2024-10-21",
        data_region="eu",
    )
    embedder = build_embedding_provider(azure, api_key=API_KEY, http_client=guarded_client(script))
    assert embedder is not None
    embedder.embed(["hello"])
    sent = script.requests[0]
    assert sent.url.path == "/openai/deployments/support-embeddings/embeddings"
    assert sent.headers["api-key"] == API_KEY


def test_a_self_hosted_server_embeds_without_a_key() -> None:
    script = Script(embeddings_reply([[0.25]]))
    local = settings(
        "openai-compatible",
        model="llama3.1:8b",
        embedding_model="nomic-embed-text",
        base_url="http://llm.internal.example/v1",
    )
    embedder = build_embedding_provider(local, api_key=None, http_client=guarded_client(script))
    assert embedder is not None
    assert embedder.embedding_model == "openai-compatible/nomic-embed-text"
    assert embedder.embed(["hi"]) == [[0.25]]
    assert str(script.requests[0].url) == "http://llm.internal.example/v1/embeddings"


def test_embeddings_are_retried_after_a_rate_limit() -> None:
    limited = json_reply(
        429,
        openai_error(code="rate_limit_exceeded", kind="requests", message="slow down"),
        headers={"retry-after": "3"},
    )
    script = Script(limited, embeddings_reply([[1.0]]))
    sleeps: list[float] = []
    embedder = build_embedding_provider(
        settings(), api_key=API_KEY, http_client=guarded_client(script), sleep=sleeps.append
    )
    assert embedder is not None
    assert embedder.embed(["x"]) == [[1.0]]
    assert script.calls == 2
    assert sleeps == [3.0]


def test_embedding_retries_stop_at_the_limit() -> None:
    limited = json_reply(429, openai_error(code="rate_limit_exceeded", kind="requests", message="slow down"))
    script = Script(limited)
    embedder = build_embedding_provider(
        settings(),
        api_key=API_KEY,
        http_client=guarded_client(script),
        retry_policy=RetryPolicy(max_retries=1),
        sleep=lambda _: None,
    )
    assert embedder is not None
    with pytest.raises(ProviderRateLimited):
        embedder.embed(["x"])
    assert script.calls == 2


def test_no_embedding_model_means_no_embedding_provider() -> None:
    script = Script(embeddings_reply([]))
    plain = check_provider_settings(kind="openai", model="gpt-4o-mini", data_region="us")
    assert build_embedding_provider(plain, api_key=API_KEY, http_client=guarded_client(script)) is None
    anthropic = check_provider_settings(kind="anthropic", model="claude-sonnet-4-5", data_region="us")
    assert build_embedding_provider(anthropic, api_key=API_KEY, http_client=guarded_client(script)) is None


def test_an_adapter_without_an_embedding_model_refuses_to_embed() -> None:
    script = Script(embeddings_reply([]))
    client = build_openai_client(
        http_client=guarded_client(script),
        api_key=API_KEY,
        base_url="https://api.openai.com/v1",
        timeout_seconds=5,
    )
    adapter = OpenAIChatProvider(kind=settings().kind, client=client, embedding_model=None)
    with pytest.raises(ProviderRequestRejected):
        adapter.embed(["x"])
    with pytest.raises(ProviderRequestRejected):
        _ = adapter.embedding_model
    assert script.calls == 0
