"""The providers send only through the product's guarded client: the real SSRF guard's refusal
becomes a non-retryable ``ProviderRequestRejected``, and a call inside a unit of work fails.

These use ``build_http_client`` without a mock transport, so the real address checks run; the
guard refuses before any socket is opened (pytest-socket would fail the test otherwise).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine

from hushdesk.agents.providers.anthropic_chat import AnthropicChatProvider, build_anthropic_client
from hushdesk.agents.providers.base import ProviderKind
from hushdesk.agents.providers.errors import ProviderRequestRejected
from hushdesk.agents.providers.openai_chat import OpenAIChatProvider, build_openai_client
from hushdesk.agents.providers.registry import build_chat_provider, check_provider_settings
from hushdesk.infra.db.uow import TransactionOpenError, make_sessionmaker, unit_of_work
from hushdesk.infra.http import IPAddress, OutboundPolicy, build_http_client
from tests.agents.providers.wire import API_KEY, Script, chat_request, guarded_client, openai_stream


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def private_resolver(host: str, port: int) -> Sequence[IPAddress]:
    return [ipaddress.ip_address("10.20.30.40")]


@pytest.mark.parametrize(
    "base_url",
    ["http://169.254.169.254/v1", "http://127.0.0.1:11434/v1", "http://[::1]:8000/v1"],
)
def test_a_base_url_at_an_internal_address_is_refused_and_not_retried(base_url: str) -> None:
    settings = check_provider_settings(kind="openai-compatible", model="llama3.1:8b", base_url=base_url)
    sleeps = Sleeps()
    with build_http_client(OutboundPolicy(), version="test") as client:
        chat = build_chat_provider(settings, api_key=None, http_client=client, sleep=sleeps)
        with pytest.raises(ProviderRequestRejected, match="is not allowed") as caught:
            list(chat.stream_chat(chat_request(model="llama3.1:8b")))
    assert not caught.value.retryable
    assert sleeps == []
    assert "allowed outbound networks" in str(caught.value)


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    settings = check_provider_settings(
        kind="openai-compatible", model="llama3.1:8b", base_url="https://llm.intranet.example/v1"
    )
    with build_http_client(OutboundPolicy(), version="test", resolver=private_resolver) as client:
        chat = build_chat_provider(settings, api_key=API_KEY, http_client=client, sleep=Sleeps())
        with pytest.raises(ProviderRequestRejected, match=r"llm\.intranet\.example.*10\.20\.30\.40, private"):
            list(chat.stream_chat(chat_request()))


def test_embeddings_to_an_internal_address_are_refused() -> None:
    with build_http_client(OutboundPolicy(), version="test") as client:
        openai_client = build_openai_client(
            http_client=client, api_key=API_KEY, base_url="http://169.254.169.254/v1", timeout_seconds=5
        )
        embedder = OpenAIChatProvider(
            kind=ProviderKind.OPENAI_COMPATIBLE, client=openai_client, embedding_model="nomic-embed-text"
        )
        with pytest.raises(ProviderRequestRejected, match="is not allowed"):
            embedder.embed(["hello"])


def test_anthropic_through_the_bridge_is_guarded_too() -> None:
    # The Anthropic SDK wraps the guard's refusal in its connection error; it is found in the chain.
    with build_http_client(OutboundPolicy(), version="test") as client:
        anthropic_client = build_anthropic_client(
            http_client=client, api_key=API_KEY, timeout_seconds=5, base_url="https://169.254.169.254"
        )
        with pytest.raises(ProviderRequestRejected, match="is not allowed") as caught:
            list(AnthropicChatProvider(client=anthropic_client).stream_chat(chat_request()))
    assert not caught.value.retryable


def test_credentials_in_a_base_url_are_refused_by_the_guard_without_echoing_them() -> None:
    script = Script(openai_stream("never"))
    client = build_openai_client(
        http_client=guarded_client(script),
        api_key=API_KEY,
        base_url="https://admin:hunter2@llm.example/v1",
        timeout_seconds=5,
    )
    adapter = OpenAIChatProvider(kind=ProviderKind.OPENAI_COMPATIBLE, client=client, embedding_model=None)
    with pytest.raises(ProviderRequestRejected) as caught:
        list(adapter.stream_chat(chat_request()))
    assert "credentials in the URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert script.calls == 0


def test_calling_a_provider_inside_a_unit_of_work_fails_loudly(sqlite_engine: Engine) -> None:
    script = Script(openai_stream("never"))
    settings = check_provider_settings(kind="openai", model="gpt-4o-mini", data_region="us")
    chat = build_chat_provider(settings, api_key=API_KEY, http_client=guarded_client(script), sleep=Sleeps())
    with unit_of_work(make_sessionmaker(sqlite_engine)), pytest.raises(TransactionOpenError):
        list(chat.stream_chat(chat_request()))
    assert script.calls == 0


def test_anthropic_inside_a_unit_of_work_fails_loudly(sqlite_engine: Engine) -> None:
    script = Script(openai_stream("never"))
    settings = check_provider_settings(kind="anthropic", model="claude-sonnet-4-5", data_region="us")
    chat = build_chat_provider(settings, api_key=API_KEY, http_client=guarded_client(script), sleep=Sleeps())
    with unit_of_work(make_sessionmaker(sqlite_engine)), pytest.raises(TransactionOpenError):
        list(chat.stream_chat(chat_request()))
    assert script.calls == 0
