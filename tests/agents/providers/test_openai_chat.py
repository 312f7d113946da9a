"""OpenAI, Azure OpenAI and OpenAI-compatible servers: the requests the SDK sends through the
guarded client, the streamed text, and how each documented failure is mapped."""

from __future__ import annotations

import httpx
import openai
import pytest

from hushdesk.agents.providers.base import ChatProvider, Role
from hushdesk.agents.providers.errors import (
    ProviderAuthFailed,
    ProviderContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from hushdesk.agents.providers.registry import ProviderSettings, build_chat_provider, check_provider_settings
from hushdesk.agents.providers.retries import NO_RETRIES
from tests.agents.providers.wire import (
    API_KEY,
    Script,
    azure_content_filter_error,
    azure_stream_body,
    chat_request,
    event_stream,
    guarded_client,
    json_reply,
    openai_error,
    openai_stream,
    raises,
)

AZURE_ENDPOINT = "https://contoso-support.openai.azure.com"


def openai_settings(**changes: str) -> ProviderSettings:
    values = {"kind": "openai", "model": "gpt-4o-mini", "data_region": "us", **changes}
    return check_provider_settings(**values)


def azure_settings() -> ProviderSettings:
    return check_provider_settings(
        kind="azure-openai",
        model="support-gpt4o",
        base_url=AZURE_ENDPOINT,
        api_version="2024-10-21",
        data_region="eu",
    )


def compatible_settings() -> ProviderSettings:
    return check_provider_settings(
        kind="openai-compatible", model="llama3.1:8b", base_url="http://ollama.internal.example:11434/v1"
    )


def provider(settings: ProviderSettings, script: Script, *, api_key: str | None = API_KEY) -> ChatProvider:
    return build_chat_provider(
        settings, api_key=api_key, http_client=guarded_client(script), retry_policy=NO_RETRIES
    )


def test_openai_request_has_model_system_first_temperature_limit_and_stream() -> None:
    script = Script(openai_stream("Hi"))
    request = chat_request(
        turns=((Role.USER, "Hello"), (Role.ASSISTANT, "Hi! How can I help?"), (Role.USER, "Reset password")),
        temperature=0.3,
        max_output_tokens=250,
    )
    list(provider(openai_settings(), script).stream_chat(request))
    sent = script.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    body = script.body()
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is True
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 250
    assert "max_tokens" not in body
    assert body["messages"] == [
        {"role": "system", "content": request.system},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Reset password"},
    ]


def test_openai_streamed_text_is_reassembled_in_order() -> None:
    script = Script(openai_stream("Open ", "Settings", ", then ", "Security", "."))
    pieces = list(provider(openai_settings(), script).stream_chat(chat_request()))
    assert pieces == ["Open ", "Settings", ", then ", "Security", "."]


def test_an_empty_system_text_sends_no_system_message() -> None:
    script = Script(openai_stream("ok"))
    list(provider(openai_settings(), script).stream_chat(chat_request(system="")))
    assert [message["role"] for message in script.body()["messages"]] == ["user"]


def test_openai_with_eu_data_region_goes_to_the_european_endpoint() -> None:
    script = Script(openai_stream("Hallo"))
    list(provider(openai_settings(data_region="eu"), script).stream_chat(chat_request()))
    assert str(script.requests[0].url) == "https://eu.api.openai.com/v1/chat/completions"


def test_openai_compatible_server_gets_its_base_url_and_max_tokens() -> None:
    script = Script(openai_stream("Sure"))
    chunks = list(provider(compatible_settings(), script).stream_chat(chat_request(model="llama3.1:8b")))
    assert chunks == ["Sure"]
    assert str(script.requests[0].url) == "http://ollama.internal.example:11434/v1/chat/completions"
    body = script.body()
    assert body["model"] == "llama3.1:8b"
    assert body["max_tokens"] == 300
    assert "max_completion_tokens" not in body


def test_the_sdks_environment_variables_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://attacker.example/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-the-environment")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-the-environment")
    script = Script(openai_stream("ok"))
    list(provider(compatible_settings(), script, api_key=None).stream_chat(chat_request()))
    sent = script.requests[0]
    assert sent.url.host == "ollama.internal.example"
    assert "from-the-environment" not in str(sent.headers)
    assert "openai-organization" not in sent.headers
    assert "openai-project" not in sent.headers


def test_azure_request_goes_to_the_deployment_with_the_api_key_header() -> None:
    script = Script(event_stream(azure_stream_body("Hello")))
    list(provider(azure_settings(), script).stream_chat(chat_request(model="support-gpt4o")))
    sent = script.requests[0]
    assert sent.url.host == "contoso-support.openai.azure.com"
    assert sent.url.path == "/openai/deployments/support-gpt4o/chat/completions"
    assert sent.url.params["api-version"] == "2024-10-21"
    assert sent.headers["api-key"] == API_KEY
    assert "authorization" not in sent.headers
    assert script.body()["stream"] is True


def test_azure_stream_with_filter_results_yields_the_text() -> None:
    script = Script(event_stream(azure_stream_body("Open ", "Settings.")))
    pieces = list(provider(azure_settings(), script).stream_chat(chat_request(model="support-gpt4o")))
    assert pieces == ["Open ", "Settings."]


def test_azure_content_filter_in_the_stream_raises_after_the_text_before_it() -> None:
    script = Script(event_stream(azure_stream_body("Here is", finish_reason="content_filter")))
    received: list[str] = []
    with pytest.raises(ProviderContentFiltered):
        for piece in provider(azure_settings(), script).stream_chat(chat_request(model="support-gpt4o")):
            received.append(piece)
    assert received == ["Here is"]


def test_azure_content_filter_400_is_content_filtered() -> None:
    script = Script(json_reply(400, azure_content_filter_error()))
    with pytest.raises(ProviderContentFiltered) as caught:
        list(provider(azure_settings(), script).stream_chat(chat_request(model="support-gpt4o")))
    assert isinstance(caught.value.__cause__, openai.BadRequestError)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "code", "kind", "expected"),
    [
        (400, None, "invalid_request_error", ProviderRequestRejected),
        (401, "invalid_api_key", "invalid_request_error", ProviderAuthFailed),
        (403, "unsupported_country_region_territory", "request_forbidden", ProviderAuthFailed),
        (404, "model_not_found", "invalid_request_error", ProviderRequestRejected),
        (422, None, "invalid_request_error", ProviderRequestRejected),
        (429, "rate_limit_exceeded", "requests", ProviderRateLimited),
        (429, "insufficient_quota", "insufficient_quota", ProviderRequestRejected),
        (500, None, "server_error", ProviderUnavailable),
        (503, None, "server_error", ProviderUnavailable),
    ],
)
def test_openai_error_statuses_map_to_our_errors(
    status: int, code: str | None, kind: str, expected: type[ProviderError]
) -> None:
    script = Script(json_reply(status, openai_error(code=code, kind=kind, message="details")))
    with pytest.raises(ProviderError) as caught:
        list(provider(openai_settings(), script).stream_chat(chat_request()))
    assert type(caught.value) is expected
    assert isinstance(caught.value.__cause__, openai.APIStatusError)
    assert str(status) in str(caught.value)


def test_a_rate_limit_carries_the_retry_after_the_provider_asked_for() -> None:
    body = openai_error(code="rate_limit_exceeded", kind="requests", message="Rate limit reached")
    script = Script(json_reply(429, body, headers={"retry-after-ms": "1500", "retry-after": "2"}))
    with pytest.raises(ProviderRateLimited) as caught:
        list(provider(azure_settings(), script).stream_chat(chat_request()))
    assert caught.value.retry_after == 1.5


def test_a_read_timeout_is_a_provider_timeout() -> None:
    script = Script(raises(lambda request: httpx.ReadTimeout("timed out", request=request)))
    with pytest.raises(ProviderTimeout) as caught:
        list(provider(openai_settings(), script).stream_chat(chat_request()))
    assert isinstance(caught.value.__cause__, openai.APITimeoutError)
    assert caught.value.retryable


def test_a_refused_connection_is_unavailable() -> None:
    script = Script(raises(lambda request: httpx.ConnectError("connection refused", request=request)))
    with pytest.raises(ProviderUnavailable):
        list(provider(compatible_settings(), script).stream_chat(chat_request()))


def test_an_error_object_inside_the_stream_is_mapped_by_its_code() -> None:
    body = 'data: {"error": {"message": "The server had an error", "type": "server_error", "code": null}}\n\n'
    script = Script(event_stream(body))
    with pytest.raises(ProviderUnavailable):
        list(provider(compatible_settings(), script).stream_chat(chat_request()))


def test_a_content_filter_error_object_inside_the_stream_is_content_filtered() -> None:
    body = 'data: {"error": {"message": "filtered", "type": null, "code": "content_filter"}}\n\n'
    script = Script(event_stream(body))
    with pytest.raises(ProviderContentFiltered):
        list(provider(azure_settings(), script).stream_chat(chat_request()))
