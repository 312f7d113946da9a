"""OpenAI, Azure OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp) through the
official ``openai`` SDK: streamed Chat Completions and the embeddings endpoint.

Every SDK client is built here with the injected, SSRF-guarded ``httpx.Client``, the SDK's
retries off (``retries`` holds our policy), an explicit timeout, and every value it would
otherwise take from the environment given explicitly: the base URL, the key, and no
``OpenAI-Organization``/``OpenAI-Project`` header, so that a variable left in the server's
environment can neither redirect requests nor attach another account's identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, cast

import httpx
import httpx2
import openai
from openai.types.chat import ChatCompletionMessageParam

from hushdesk.agents.providers.base import ChatRequest, ProviderKind, Role
from hushdesk.agents.providers.errors import (
    ProviderContentFiltered,
    ProviderError,
    ProviderRequestRejected,
    ProviderUnavailable,
)
from hushdesk.agents.providers.errors_mapping import OPENAI_FAILURES, map_openai_error

OPENAI_BASE_URL = "https://api.openai.com/v1"
# OpenAI's European data residency endpoint (for projects created with EU residency).
OPENAI_EU_BASE_URL = "https://eu.api.openai.com/v1"
# Self-hosted servers usually run without authentication, but the SDK insists on a key and
# would otherwise take OPENAI_API_KEY from the environment and send it to that server.
KEYLESS_PLACEHOLDER = "no-key"
EMBEDDING_BATCH_SIZE = 256

OutputLimitField = Literal["max_tokens", "max_completion_tokens"]

_NAMES = {
    ProviderKind.OPENAI: "OpenAI",
    ProviderKind.AZURE_OPENAI: "Azure OpenAI",
    ProviderKind.OPENAI_COMPATIBLE: "Self-hosted model server",
}
# Omit() removes a header the SDK would fill from OPENAI_ORG_ID / OPENAI_PROJECT_ID.
_NO_AMBIENT_HEADERS = cast(
    "Mapping[str, str]", {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
)


class OpenAIChatProvider:
    """A ``ChatProvider`` and ``EmbeddingProvider`` over an ``openai.OpenAI`` client.

    ``request.model`` names the model (for Azure, the deployment). ``embedding_model`` is
    ``None`` when this provider offers no embeddings; ``embed`` then raises
    ``ProviderRequestRejected``. ``output_limit_field`` is the request field that carries
    ``max_output_tokens``: OpenAI has replaced ``max_tokens`` by ``max_completion_tokens``,
    which self-hosted servers and older Azure API versions may not know.
    """

    def __init__(
        self,
        *,
        kind: ProviderKind,
        client: openai.OpenAI,
        embedding_model: str | None,
        output_limit_field: OutputLimitField = "max_tokens",
    ) -> None:
        self._kind = kind
        self._client = client
        self._embedding_model = embedding_model
        self._output_limit_field: OutputLimitField = output_limit_field
        self._name = _NAMES.get(kind, str(kind))

    @property
    def kind(self) -> ProviderKind:
        return self._kind

    @property
    def embedding_model(self) -> str:
        """``<kind>/<model>``, or ``ProviderRequestRejected`` when none is configured."""
        return f"{self._kind}/{self._require_embedding_model()}"

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        """Yield the reply's text as it streams. Raises a ``ProviderError``: a chunk that
        ends with ``finish_reason`` ``content_filter`` raises ``ProviderContentFiltered``
        after the text before it has been yielded."""
        try:
            stream = self._client.chat.completions.create(
                model=request.model,
                messages=_chat_messages(request),
                temperature=request.temperature,
                stream=True,
                max_tokens=_limit_if(self._output_limit_field == "max_tokens", request.max_output_tokens),
                max_completion_tokens=_limit_if(
                    self._output_limit_field == "max_completion_tokens", request.max_output_tokens
                ),
            )
            with stream:
                for chunk in stream:
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        if choice.delta is not None and choice.delta.content:
                            yield choice.delta.content
                        if choice.finish_reason == "content_filter":
                            raise ProviderContentFiltered(
                                f"{self._name} stopped the reply: its content filter blocked it."
                            )
        except ProviderError:
            raise
        except OPENAI_FAILURES as exc:
            raise map_openai_error(exc, provider=self._name) from exc

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, in batches of ``EMBEDDING_BATCH_SIZE``. Raises a
        ``ProviderError``; ``ProviderUnavailable`` when the answer does not hold one vector
        per text."""
        model = self._require_embedding_model()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBEDDING_BATCH_SIZE):
            batch = list(texts[start : start + EMBEDDING_BATCH_SIZE])
            vectors.extend(self._embed_batch(model, batch))
        return vectors

    def _embed_batch(self, model: str, batch: list[str]) -> list[list[float]]:
        try:
            response = self._client.embeddings.create(model=model, input=batch, encoding_format="float")
        except OPENAI_FAILURES as exc:
            raise map_openai_error(exc, provider=self._name) from exc
        ordered = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in ordered] != list(range(len(batch))):
            raise ProviderUnavailable(f"{self._name} did not return one embedding per text.")
        return [list(item.embedding) for item in ordered]

    def _require_embedding_model(self) -> str:
        if self._embedding_model is None:
            raise ProviderRequestRejected(f"No embedding model is configured for {self._name}.")
        return self._embedding_model

    def __repr__(self) -> str:
        return f"OpenAIChatProvider(kind={self._kind.value!r}, base_url={str(self._client.base_url)!r})"


def build_openai_client(
    *, http_client: httpx.Client, api_key: str, base_url: str, timeout_seconds: float
) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for OpenAI's API or an OpenAI-compatible server at
    ``base_url`` (ending in ``/v1`` for most servers)."""
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        http_client=_sdk_http_client(http_client),
        max_retries=0,
        timeout=sdk_timeout(timeout_seconds),
        default_headers=_NO_AMBIENT_HEADERS,
    )


def build_azure_client(
    *, http_client: httpx.Client, api_key: str, endpoint: str, api_version: str, timeout_seconds: float
) -> openai.AzureOpenAI:
    """An ``openai.AzureOpenAI`` client for the resource at ``endpoint``; requests go to
    ``/openai/deployments/{model}/...?api-version=...`` with the key in ``api-key``."""
    return openai.AzureOpenAI(
        api_key=api_key,
        azure_endpoint=endpoint,
        api_version=api_version,
        http_client=_sdk_http_client(http_client),
        max_retries=0,
        timeout=sdk_timeout(timeout_seconds),
        default_headers=_NO_AMBIENT_HEADERS,
    )


def sdk_timeout(timeout_seconds: float) -> httpx2.Timeout:
    """The per-request timeout the SDKs apply: ``timeout_seconds`` for reading each part of
    the stream and for writing, at most 10 s (and never more than that) to connect."""
    return httpx2.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds))


def _sdk_http_client(http_client: httpx.Client) -> httpx2.Client:
    # The SDK is typed for httpx2 but accepts an httpx.Client and sends through it (it checks
    # for both at run time), which keeps every request on the product's guarded client.
    return cast("httpx2.Client", http_client)


def _limit_if(chosen: bool, limit: int) -> int | openai.Omit:
    return limit if chosen else openai.omit


def _chat_messages(request: ChatRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        if message.role is Role.USER:
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    return messages
