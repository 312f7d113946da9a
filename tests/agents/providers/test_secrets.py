"""Errors and reprs never carry the API key, the prompt or the provider's response body, even
when the provider's answer quotes them back."""

from __future__ import annotations

import httpx
import pytest

from hushdesk.agents.providers.base import ChatProvider, Role
from hushdesk.agents.providers.errors import ProviderError
from hushdesk.agents.providers.registry import ProviderSettings, build_chat_provider, check_provider_settings
from hushdesk.agents.providers.retries import NO_RETRIES
from tests.agents.providers.wire import (
    API_KEY,
    SECRET_PROMPT,
    Reply,
    Script,
    anthropic_error,
    anthropic_error_event,
    anthropic_stream_body,
    azure_content_filter_error,
    chat_request,
    event_stream,
    guarded_client,
    json_reply,
    openai_error,
)

BODY_MARKER = "body-marker-3c1e"
ECHO = f"{BODY_MARKER}: key {API_KEY} for prompt {SECRET_PROMPT}"

OPENAI = check_provider_settings(kind="openai", model="gpt-4o-mini", data_region="us")
AZURE = check_provider_settings(
    kind="azure-openai",
    model="support-gpt4o",
    base_url="https://contoso-support.openai.azure.com",
    api_version="2024-10-21",
    data_region="eu",
)
ANTHROPIC = check_provider_settings(kind="anthropic", model="claude-sonnet-4-5", data_region="us")

CASES: list[tuple[str, ProviderSettings, Reply]] = [
    ("openai-401", OPENAI, json_reply(401, openai_error(code="invalid_api_key", kind="x", message=ECHO))),
    (
        "openai-400",
        OPENAI,
        json_reply(400, openai_error(code=None, kind="invalid_request_error", message=ECHO)),
    ),
    (
        "openai-429",
        OPENAI,
        json_reply(429, openai_error(code="rate_limit_exceeded", kind="requests", message=ECHO)),
    ),
    ("openai-500-text", OPENAI, lambda request: httpx.Response(500, text=ECHO)),
    (
        "openai-stream-error",
        OPENAI,
        event_stream(
            'data: {"error": {"message": "' + ECHO + '", "type": "server_error", "code": null}}\n\n'
        ),
    ),
    ("azure-content-filter", AZURE, json_reply(400, azure_content_filter_error())),
    ("anthropic-401", ANTHROPIC, json_reply(401, anthropic_error("authentication_error", ECHO))),
    ("anthropic-400", ANTHROPIC, json_reply(400, anthropic_error("invalid_request_error", ECHO))),
    ("anthropic-529", ANTHROPIC, json_reply(529, anthropic_error("overloaded_error", ECHO))),
    (
        "anthropic-stream-error",
        ANTHROPIC,
        event_stream(anthropic_stream_body("x", tail=anthropic_error_event("api_error", ECHO))),
    ),
]


def provider(settings: ProviderSettings, script: Script) -> ChatProvider:
    return build_chat_provider(
        settings, api_key=API_KEY, http_client=guarded_client(script), retry_policy=NO_RETRIES
    )


@pytest.mark.parametrize(
    ("settings", "reply"), [(s, r) for _, s, r in CASES], ids=[name for name, _, _ in CASES]
)
def test_error_messages_quote_no_key_prompt_or_body(settings: ProviderSettings, reply: Reply) -> None:
    script = Script(reply)
    request = chat_request(turns=((Role.USER, SECRET_PROMPT),))
    with pytest.raises(ProviderError) as caught:
        list(provider(settings, script).stream_chat(request))
    for text in (str(caught.value), repr(caught.value), caught.value.public_message):
        assert API_KEY not in text
        assert SECRET_PROMPT not in text
        assert BODY_MARKER not in text
    # The request did carry them, so the test would notice a leak.
    assert SECRET_PROMPT in script.requests[0].content.decode()


@pytest.mark.parametrize("settings", [OPENAI, AZURE, ANTHROPIC], ids=["openai", "azure", "anthropic"])
def test_provider_reprs_carry_no_key(settings: ProviderSettings) -> None:
    chat = provider(settings, Script(json_reply(500, {})))
    assert API_KEY not in repr(chat)
    assert API_KEY not in str(chat)
    assert settings.kind.value in repr(chat) or "Anthropic" in repr(chat)
