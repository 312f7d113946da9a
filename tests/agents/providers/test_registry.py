"""Checking an admin's provider settings, and building providers from them."""

from __future__ import annotations

from typing import Any

import pytest

from hushdesk.agents.providers.base import ProviderKind
from hushdesk.agents.providers.errors import ProviderAuthFailed
from hushdesk.agents.providers.registry import (
    ProviderSettings,
    build_chat_provider,
    check_provider_settings,
    needs_api_key,
)
from hushdesk.infra.errors import ValidationFailed
from tests.agents.providers.wire import API_KEY, Script, guarded_client, openai_stream

AZURE: dict[str, Any] = {
    "kind": "azure-openai",
    "model": "support-gpt4o",
    "base_url": "https://contoso-support.openai.azure.com",
    "api_version": "2024-10-21",
    "data_region": "eu",
}
LOCAL: dict[str, Any] = {
    "kind": "openai-compatible",
    "model": "llama3.1:8b",
    "base_url": "http://gpu-box.lan:8000/v1",
}


def refused(field: str, **values: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        check_provider_settings(**values)
    assert caught.value.data["field"] == field
    return caught.value


def test_valid_settings_come_back_frozen() -> None:
    settings = check_provider_settings(**AZURE, embedding_model="support-embeddings")
    assert settings == ProviderSettings(
        kind=ProviderKind.AZURE_OPENAI,
        model="support-gpt4o",
        base_url="https://contoso-support.openai.azure.com",
        api_version="2024-10-21",
        embedding_model="support-embeddings",
        data_region="eu",
    )
    with pytest.raises(AttributeError):
        settings.model = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "model",
    ["gpt-4o-mini", "llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct", "claude-sonnet-4-5@20250929", "a"],
)
def test_provider_model_names_are_accepted(model: str) -> None:
    assert check_provider_settings(**{**LOCAL, "model": model}).model == model


@pytest.mark.parametrize("model", ["", " gpt", "gpt 4", "-gpt", "gpt\n", "gpt;rm", "a" * 201, "gpt<script>"])
def test_unsafe_or_overlong_model_names_are_refused(model: str) -> None:
    refused("model", **{**LOCAL, "model": model})


def test_a_200_character_model_name_is_accepted() -> None:
    assert len(check_provider_settings(**{**LOCAL, "model": "m" * 200}).model) == 200


def test_an_unknown_kind_is_refused_naming_the_choices() -> None:
    error = refused("kind", kind="bedrock", model="x")
    assert "openai-compatible" in error.public_message


@pytest.mark.parametrize("kind", ["azure-openai", "openai-compatible"])
def test_a_base_url_is_required_where_the_endpoint_is_not_fixed(kind: str) -> None:
    values = {**(AZURE if kind == "azure-openai" else LOCAL), "base_url": ""}
    refused("base_url", **values)


@pytest.mark.parametrize("kind", ["openai", "anthropic", "extractive"])
def test_a_base_url_is_refused_where_the_endpoint_is_fixed(kind: str) -> None:
    refused("base_url", kind=kind, model="m", base_url="https://proxy.example/v1", data_region="us")


def test_azure_must_use_https() -> None:
    refused("base_url", **{**AZURE, "base_url": "http://contoso-support.openai.azure.com"})


def test_a_self_hosted_server_may_use_http() -> None:
    assert check_provider_settings(**LOCAL).base_url == "http://gpu-box.lan:8000/v1"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://gpu-box.lan/v1",
        "file:///etc/passwd",
        "https:///v1",
        "https://gpu-box.lan/v1?key=abc",
        "https://gpu-box.lan/v1#frag",
        "https://gpu-box.lan/v1?",
        "https://gpu-box.lan:notaport/v1",
        "https://gpu box.lan/v1",
        "gpu-box.lan/v1",
    ],
)
def test_malformed_base_urls_are_refused(url: str) -> None:
    refused("base_url", **{**LOCAL, "base_url": url})


def test_credentials_in_a_base_url_are_refused_without_echoing_them() -> None:
    error = refused("base_url", **{**LOCAL, "base_url": "https://admin:hunter2@gpu-box.lan/v1"})
    assert "hunter2" not in error.public_message
    assert "hunter2" not in str(error.data)


def test_azure_needs_an_api_version_of_the_documented_shape() -> None:
    refused("api_version", **{**AZURE, "api_version": None})
    refused("api_version", **{**AZURE, "api_version": "latest"})
    assert check_provider_settings(**{**AZURE, "api_version": "2025-04-01-preview"}).api_version


def test_other_kinds_take_no_api_version() -> None:
    refused("api_version", **LOCAL, api_version="2024-10-21")


def test_anthropic_and_extractive_take_no_embedding_model() -> None:
    refused(
        "embedding_model", kind="anthropic", model="claude-sonnet-4-5", embedding_model="e", data_region="us"
    )
    refused("embedding_model", kind="extractive", model="extractive", embedding_model="e")


def test_an_embedding_model_name_follows_the_model_name_rules() -> None:
    refused("embedding_model", **LOCAL, embedding_model="bad name")


def test_a_cloud_provider_needs_a_declared_data_region() -> None:
    error = refused("data_region", kind="openai", model="gpt-4o-mini")
    assert "us, eu" in error.public_message


def test_a_data_region_the_provider_cannot_process_in_is_refused() -> None:
    refused("data_region", kind="anthropic", model="claude-sonnet-4-5", data_region="eu")
    refused("data_region", kind="openai", model="gpt-4o-mini", data_region="af")
    refused("data_region", kind="openai", model="gpt-4o-mini", data_region="mars")


def test_a_self_hosted_server_needs_no_data_region() -> None:
    assert check_provider_settings(**LOCAL).data_region is None
    assert check_provider_settings(**LOCAL, data_region="af").data_region == "af"


def test_which_kinds_need_an_api_key() -> None:
    assert needs_api_key(ProviderKind.OPENAI)
    assert needs_api_key(ProviderKind.AZURE_OPENAI)
    assert needs_api_key(ProviderKind.ANTHROPIC)
    assert not needs_api_key(ProviderKind.OPENAI_COMPATIBLE)
    assert not needs_api_key(ProviderKind.EXTRACTIVE)


def test_the_extractive_kind_is_not_built_here() -> None:
    settings = check_provider_settings(kind="extractive", model="extractive")
    with pytest.raises(ValueError, match="extractive"):
        build_chat_provider(settings, api_key=None, http_client=guarded_client(Script(openai_stream("x"))))


@pytest.mark.parametrize("api_key", [None, ""])
def test_a_missing_key_for_a_kind_that_needs_one_is_an_auth_failure(api_key: str | None) -> None:
    settings = check_provider_settings(kind="openai", model="gpt-4o-mini", data_region="us")
    script = Script(openai_stream("x"))
    with pytest.raises(ProviderAuthFailed):
        build_chat_provider(settings, api_key=api_key, http_client=guarded_client(script))
    assert script.calls == 0


def test_building_a_provider_sends_nothing() -> None:
    script = Script(openai_stream("x"))
    for values in (AZURE, LOCAL, {"kind": "anthropic", "model": "claude-sonnet-4-5", "data_region": "us"}):
        build_chat_provider(
            check_provider_settings(**values), api_key=API_KEY, http_client=guarded_client(script)
        )
    assert script.calls == 0


def test_unchecked_settings_missing_a_base_url_are_a_programming_error() -> None:
    settings = ProviderSettings(kind=ProviderKind.OPENAI_COMPATIBLE, model="m")
    with pytest.raises(ValueError, match="check_provider_settings"):
        build_chat_provider(settings, api_key=None, http_client=guarded_client(Script(openai_stream("x"))))
