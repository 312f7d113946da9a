"""Anthropic's Messages API: the request the SDK sends through the guarded client (via the
httpx2 bridge), the streamed events, and how each documented failure is mapped."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from hushdesk.agents.providers.anthropic_chat import AnthropicChatProvider, build_anthropic_client
from hushdesk.agents.providers.base import ChatProvider, ProviderKind, Role
from hushdesk.agents.providers.errors import (
    ProviderAuthFailed,
    ProviderContentFiltered,
    ProviderError,
    ProviderRateLimited,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from hushdesk.agents.providers.registry import build_chat_provider, check_provider_settings
from hushdesk.agents.providers.retries import NO_RETRIES
from tests.agents.providers.wire import (
    API_KEY,
    Script,
    anthropic_error,
    anthropic_error_event,
    anthropic_stream,
    anthropic_stream_body,
    chat_request,
    event_stream,
    guarded_client,
    json_reply,
    raises,
)

MODEL = "claude-sonnet-4-5"
# The API version this SDK release sends (it pins the wire format the tests speak).
SDK_API_VERSION = "2026-10-21"


def provider(script: Script) -> ChatProvider:
    settings = check_provider_settings(kind="anthropic", model=MODEL, data_region="us")
    return build_chat_provider(
        settings, api_key=API_KEY, http_client=guarded_client(script), retry_policy=NO_RETRIES
    )


def test_request_has_top_level_system_messages_limit_and_stream() -> None:
    script = Script(anthropic_stream("Hi"))
    request = chat_request(
        model=MODEL,
        turns=((Role.USER, "Hello"), (Role.ASSISTANT, "Hi! How can I help?"), (Role.USER, "Reset password")),
        max_output_tokens=400,
    )
    list(provider(script).stream_chat(request))
    sent = script.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    body = script.body()
    assert body["model"] == MODEL
    assert body["max_tokens"] == 400
    assert body["stream"] is True
    assert body["system"] == request.system
    assert body["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Reset password"},
    ]
    # The API version this SDK sends refuses sampling parameters.
    assert "temperature" not in body


def test_request_carries_the_key_and_the_api_version() -> None:
    script = Script(anthropic_stream("Hi"))
    list(provider(script).stream_chat(chat_request(model=MODEL)))
    headers = script.requests[0].headers
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["anthropic-version"] == SDK_API_VERSION
    assert headers["user-agent"].startswith("Anthropic/Python")


def test_a_us_data_region_pins_inference_to_the_us() -> None:
    script = Script(anthropic_stream("Hi"))
    list(provider(script).stream_chat(chat_request(model=MODEL)))
    assert script.body()["inference_geo"] == "us"


def test_no_inference_geo_is_sent_without_one() -> None:
    script = Script(anthropic_stream("Hi"))
    client = build_anthropic_client(http_client=guarded_client(script), api_key=API_KEY, timeout_seconds=5)
    list(AnthropicChatProvider(client=client).stream_chat(chat_request(model=MODEL, system="")))
    body = script.body()
    assert "inference_geo" not in body
    assert "system" not in body


def test_streamed_text_deltas_are_reassembled_in_order_and_pings_ignored() -> None:
    script = Script(anthropic_stream("Open ", "Settings", ", then ", "Security."))
    chat = provider(script)
    assert chat.kind is ProviderKind.ANTHROPIC
    assert list(chat.stream_chat(chat_request(model=MODEL))) == ["Open ", "Settings", ", then ", "Security."]


def test_a_refusal_stop_reason_is_content_filtered_after_the_text_before_it() -> None:
    script = Script(event_stream(anthropic_stream_body("I can", stop_reason="refusal")))
    received: list[str] = []
    with pytest.raises(ProviderContentFiltered):
        for piece in provider(script).stream_chat(chat_request(model=MODEL)):
            received.append(piece)
    assert received == ["I can"]


def test_an_error_event_in_the_middle_of_the_stream_is_mapped() -> None:
    tail = anthropic_error_event("overloaded_error", "Overloaded")
    script = Script(event_stream(anthropic_stream_body("Open ", tail=tail)))
    received: list[str] = []
    with pytest.raises(ProviderUnavailable) as caught:
        for piece in provider(script).stream_chat(chat_request(model=MODEL)):
            received.append(piece)
    assert received == ["Open "]
    assert "overloaded_error" in str(caught.value)
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (400, "invalid_request_error", ProviderRequestRejected),
        (401, "authentication_error", ProviderAuthFailed),
        (403, "permission_error", ProviderAuthFailed),
        (404, "not_found_error", ProviderRequestRejected),
        (413, "request_too_large", ProviderRequestRejected),
        (429, "rate_limit_error", ProviderRateLimited),
        (500, "api_error", ProviderUnavailable),
        (504, "timeout_error", ProviderTimeout),
        (529, "overloaded_error", ProviderUnavailable),
    ],
)
def test_anthropic_error_bodies_map_to_our_errors(
    status: int, kind: str, expected: type[ProviderError]
) -> None:
    script = Script(json_reply(status, anthropic_error(kind, "details")))
    with pytest.raises(ProviderError) as caught:
        list(provider(script).stream_chat(chat_request(model=MODEL)))
    assert type(caught.value) is expected
    assert kind in str(caught.value)
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)


def test_a_rate_limit_carries_the_retry_after_header() -> None:
    script = Script(
        json_reply(429, anthropic_error("rate_limit_error", "slow down"), headers={"retry-after": "7"})
    )
    with pytest.raises(ProviderRateLimited) as caught:
        list(provider(script).stream_chat(chat_request(model=MODEL)))
    assert caught.value.retry_after == 7.0


def test_an_unknown_error_type_falls_back_to_the_status() -> None:
    script = Script(json_reply(503, anthropic_error("some_new_error", "later")))
    with pytest.raises(ProviderUnavailable):
        list(provider(script).stream_chat(chat_request(model=MODEL)))


def test_a_read_timeout_is_a_provider_timeout() -> None:
    script = Script(raises(lambda request: httpx.ReadTimeout("timed out", request=request)))
    with pytest.raises(ProviderTimeout) as caught:
        list(provider(script).stream_chat(chat_request(model=MODEL)))
    assert isinstance(caught.value.__cause__, anthropic.APITimeoutError)


def test_a_refused_connection_is_unavailable() -> None:
    script = Script(raises(lambda request: httpx.ConnectError("connection refused", request=request)))
    with pytest.raises(ProviderUnavailable):
        list(provider(script).stream_chat(chat_request(model=MODEL)))


def test_a_redirect_is_not_followed_with_the_key() -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"location": "https://elsewhere.example/v1/messages"})

    script = Script(redirect)
    with pytest.raises(ProviderRequestRejected, match="307"):
        list(provider(script).stream_chat(chat_request(model=MODEL)))
    assert script.calls == 1


def test_the_sdks_environment_variables_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "token-from-the-environment")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://attacker.example")
    script = Script(anthropic_stream("Hi"))
    list(provider(script).stream_chat(chat_request(model=MODEL)))
    sent = script.requests[0]
    assert sent.url.host == "api.anthropic.com"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "from-the-environment" not in str(sent.headers)
