"""An agent's provider settings: checked once, then turned into a provider.

``check_provider_settings`` validates what an admin entered and returns the frozen
``ProviderSettings``; ``build_chat_provider`` and ``build_embedding_provider`` build the
network providers from them, each wrapped in our retry policy. The extractive responder is
built elsewhere (it needs no network), so ``build_chat_provider`` refuses that kind.

Base URLs: Azure OpenAI and OpenAI-compatible servers need one; OpenAI's and Anthropic's are
fixed (what ``facts`` says about them holds for their own endpoints only: another server is
an OpenAI-compatible one). OpenAI with ``data_region`` ``eu`` goes to its European endpoint.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx

from hushdesk.agents.providers.anthropic_chat import AnthropicChatProvider, build_anthropic_client
from hushdesk.agents.providers.base import ChatProvider, EmbeddingProvider, ProviderKind
from hushdesk.agents.providers.errors import ProviderAuthFailed
from hushdesk.agents.providers.facts import REGION_CODES, facts_for
from hushdesk.agents.providers.openai_chat import (
    KEYLESS_PLACEHOLDER,
    OPENAI_BASE_URL,
    OPENAI_EU_BASE_URL,
    OpenAIChatProvider,
    OutputLimitField,
    build_azure_client,
    build_openai_client,
)
from hushdesk.agents.providers.retries import (
    DEFAULT_RETRY_POLICY,
    RetryingChatProvider,
    RetryingEmbeddingProvider,
    RetryPolicy,
    Sleep,
)
from hushdesk.infra.errors import ValidationFailed

MAX_MODEL_NAME_LENGTH = 200
MAX_BASE_URL_LENGTH = 2000
# Model and deployment names as providers spell them: "gpt-4o-mini", "llama3.1:8b",
# "meta-llama/Llama-3.1-8B-Instruct", "claude-sonnet-4-5@20250929".
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\-]*")
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
_NEEDS_BASE_URL = frozenset({ProviderKind.AZURE_OPENAI, ProviderKind.OPENAI_COMPATIBLE})
_EMBEDDING_KINDS = frozenset({ProviderKind.OPENAI, ProviderKind.AZURE_OPENAI, ProviderKind.OPENAI_COMPATIBLE})


@dataclass(frozen=True)
class ProviderSettings:
    """One agent's provider, as ``check_provider_settings`` accepted it. Holds no secret: the
    API key is sealed in ``hushdesk.credentials`` and passed to the builders separately."""

    kind: ProviderKind
    model: str
    base_url: str | None = None
    api_version: str | None = None
    embedding_model: str | None = None
    data_region: str | None = None


def check_provider_settings(
    *,
    kind: str,
    model: str,
    base_url: str | None = None,
    api_version: str | None = None,
    embedding_model: str | None = None,
    data_region: str | None = None,
) -> ProviderSettings:
    """Validate an admin's provider settings; empty strings count as absent.

    Raises ``ValidationFailed`` (naming the field in ``data["field"]``) for: an unknown kind;
    a model or embedding model name that is empty, longer than 200 characters or outside
    letters, digits and ``. _ : / @ + -``; an embedding model for a kind without embeddings; a
    base URL missing where required (Azure OpenAI, OpenAI-compatible) or given where the
    endpoint is fixed (OpenAI, Anthropic, extractive), not https (http is allowed for a
    self-hosted server, where the outbound policy's allowed networks decide), with
    credentials, a query or a fragment; an API version missing for Azure or given elsewhere;
    a data region that is not ours, not one the provider can process in, or missing for a
    cloud provider.
    """
    provider_kind = _check_kind(kind)
    return ProviderSettings(
        kind=provider_kind,
        model=_check_model_name(model, field="model"),
        base_url=_check_base_url(provider_kind, _blank_to_none(base_url)),
        api_version=_check_api_version(provider_kind, _blank_to_none(api_version)),
        embedding_model=_check_embedding_model(provider_kind, _blank_to_none(embedding_model)),
        data_region=_check_data_region(provider_kind, _blank_to_none(data_region)),
    )


def needs_api_key(kind: ProviderKind) -> bool:
    """Whether ``kind`` cannot work without an API key. A self-hosted server may run without
    one; the extractive responder never has one."""
    return kind in (ProviderKind.OPENAI, ProviderKind.AZURE_OPENAI, ProviderKind.ANTHROPIC)


def build_chat_provider(
    settings: ProviderSettings,
    *,
    api_key: str | None,
    http_client: httpx.Client,
    timeout_seconds: float = 60,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Sleep = time.sleep,
) -> ChatProvider:
    """The chat provider for ``settings``, sending through ``http_client`` (from
    ``build_http_client``, owned and closed by the caller), retried under ``retry_policy``.

    Raises ``ValueError`` for ``ProviderKind.EXTRACTIVE`` (built elsewhere) and
    ``ProviderAuthFailed`` when the kind needs an API key and none is given. Sends nothing.
    """
    if settings.kind is ProviderKind.EXTRACTIVE:
        raise ValueError("the extractive responder has no network provider; build it where it lives")
    key = _require_key(settings.kind, api_key)
    inner: ChatProvider
    if settings.kind is ProviderKind.ANTHROPIC:
        client = build_anthropic_client(http_client=http_client, api_key=key, timeout_seconds=timeout_seconds)
        inner = AnthropicChatProvider(client=client, inference_geo=settings.data_region)
    else:
        inner = _openai_family(
            settings, api_key=key, http_client=http_client, timeout_seconds=timeout_seconds
        )
    return RetryingChatProvider(inner, policy=retry_policy, sleep=sleep)


def build_embedding_provider(
    settings: ProviderSettings,
    *,
    api_key: str | None,
    http_client: httpx.Client,
    timeout_seconds: float = 60,
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Sleep = time.sleep,
) -> EmbeddingProvider | None:
    """The embedding provider for ``settings``, or ``None`` when it has no embedding model
    (Anthropic and the extractive responder never have one). Raises ``ProviderAuthFailed``
    like ``build_chat_provider``. Sends nothing."""
    if settings.embedding_model is None or settings.kind not in _EMBEDDING_KINDS:
        return None
    key = _require_key(settings.kind, api_key)
    inner = _openai_family(settings, api_key=key, http_client=http_client, timeout_seconds=timeout_seconds)
    return RetryingEmbeddingProvider(inner, policy=retry_policy, sleep=sleep)


def _openai_family(
    settings: ProviderSettings, *, api_key: str, http_client: httpx.Client, timeout_seconds: float
) -> OpenAIChatProvider:
    if settings.kind is ProviderKind.AZURE_OPENAI:
        azure = build_azure_client(
            http_client=http_client,
            api_key=api_key,
            endpoint=_present(settings.base_url, "base_url"),
            api_version=_present(settings.api_version, "api_version"),
            timeout_seconds=timeout_seconds,
        )
        return OpenAIChatProvider(kind=settings.kind, client=azure, embedding_model=settings.embedding_model)
    limit_field: OutputLimitField
    if settings.kind is ProviderKind.OPENAI:
        base_url = OPENAI_EU_BASE_URL if settings.data_region == "eu" else OPENAI_BASE_URL
        limit_field = "max_completion_tokens"
    else:
        base_url, limit_field = _present(settings.base_url, "base_url"), "max_tokens"
    client = build_openai_client(
        http_client=http_client, api_key=api_key, base_url=base_url, timeout_seconds=timeout_seconds
    )
    return OpenAIChatProvider(
        kind=settings.kind,
        client=client,
        embedding_model=settings.embedding_model,
        output_limit_field=limit_field,
    )


def _present(value: str | None, name: str) -> str:
    # Settings built without check_provider_settings may lack what it would have required.
    if value is None:
        raise ValueError(f"provider settings without {name}: pass them through check_provider_settings")
    return value


def _require_key(kind: ProviderKind, api_key: str | None) -> str:
    if api_key:
        return api_key
    if needs_api_key(kind):
        raise ProviderAuthFailed("No API key is configured for this provider.")
    return KEYLESS_PLACEHOLDER


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field=field)


def _blank_to_none(value: str | None) -> str | None:
    return value if value else None


def _check_kind(kind: str) -> ProviderKind:
    try:
        return ProviderKind(kind)
    except ValueError:
        known = ", ".join(member.value for member in ProviderKind)
        raise _invalid("kind", f"Unknown provider kind; choose one of: {known}.") from None


def _check_model_name(name: str, *, field: str) -> str:
    if not name or len(name) > MAX_MODEL_NAME_LENGTH:
        raise _invalid(field, f"The {field.replace('_', ' ')} name must be 1 to 200 characters long.")
    if not _MODEL_NAME.fullmatch(name):
        raise _invalid(
            field,
            f"The {field.replace('_', ' ')} name may contain only letters, digits and . _ : / @ + - "
            "and must start with a letter or digit.",
        )
    return name


def _check_embedding_model(kind: ProviderKind, name: str | None) -> str | None:
    if name is None:
        return None
    if kind not in _EMBEDDING_KINDS:
        raise _invalid(
            "embedding_model", "This provider offers no embeddings; leave the embedding model empty."
        )
    return _check_model_name(name, field="embedding_model")


def _check_api_version(kind: ProviderKind, version: str | None) -> str | None:
    if kind is not ProviderKind.AZURE_OPENAI:
        if version is not None:
            raise _invalid("api_version", "Only Azure OpenAI takes an API version; leave it empty.")
        return None
    if version is None:
        raise _invalid("api_version", "Azure OpenAI needs an API version, such as 2024-10-21.")
    if not _API_VERSION.fullmatch(version):
        raise _invalid("api_version", "The API version must look like 2024-10-21 or 2025-04-01-preview.")
    return version


def _check_base_url(kind: ProviderKind, url: str | None) -> str | None:
    if kind not in _NEEDS_BASE_URL:
        if url is not None:
            raise _invalid(
                "base_url",
                "This provider's endpoint is fixed; for another server choose the OpenAI-compatible kind.",
            )
        return None
    if url is None:
        raise _invalid("base_url", "This provider needs the base URL of its endpoint.")
    if len(url) > MAX_BASE_URL_LENGTH:
        raise _invalid("base_url", "The base URL is too long.")
    parts = _split_url(url)
    allowed = ("https", "http") if kind is ProviderKind.OPENAI_COMPATIBLE else ("https",)
    if parts.scheme not in allowed:
        raise _invalid(
            "base_url", "The base URL must start with " + " or ".join(f"{s}://" for s in allowed) + "."
        )
    if not parts.hostname:
        raise _invalid("base_url", "The base URL must name a host.")
    if "@" in parts.netloc:
        # Never echo the URL back: the part before @ may be a password.
        raise _invalid("base_url", "The base URL must not contain credentials; enter the key separately.")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise _invalid("base_url", "The base URL must not have a query or a fragment.")
    return url


def _split_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parses the port, raising ValueError when it is not a number)
    except ValueError:
        raise _invalid("base_url", "The base URL is not a valid URL.") from None
    if any(char.isspace() or ord(char) < 0x20 for char in url):
        raise _invalid("base_url", "The base URL must not contain spaces or control characters.")
    return parts


def _check_data_region(kind: ProviderKind, region: str | None) -> str | None:
    facts = facts_for(kind)
    if region is None:
        if facts.third_party:
            raise _invalid(
                "data_region",
                "Declare where this provider processes data (one of: "
                + ", ".join(facts.regions)
                + "); it must match the region of each workspace that uses it.",
            )
        return None
    if region not in REGION_CODES:
        raise _invalid("data_region", "Unknown region; choose one of: " + ", ".join(REGION_CODES) + ".")
    if region not in facts.regions:
        raise _invalid(
            "data_region",
            "This provider cannot process data in that region; it can in: " + ", ".join(facts.regions) + ".",
        )
    return region
