"""Each provider kind's data-processing facts, and who may use which provider where."""

from __future__ import annotations

import dataclasses

import pytest

from hushdesk.agents.providers.base import ProviderKind
from hushdesk.agents.providers.facts import (
    FACTS_VERSION,
    REGION_CODES,
    DataProcessingFacts,
    check_region_allowed,
    facts_for,
)
from hushdesk.workspaces.models import Region

CLOUD = (ProviderKind.OPENAI, ProviderKind.AZURE_OPENAI, ProviderKind.ANTHROPIC)
LOCAL = (ProviderKind.OPENAI_COMPATIBLE, ProviderKind.EXTRACTIVE)


def test_our_region_codes_are_the_workspace_regions() -> None:
    assert set(REGION_CODES) == {region.value for region in Region}


@pytest.mark.parametrize("kind", list(ProviderKind))
def test_every_kind_has_facts_with_known_regions(kind: ProviderKind) -> None:
    facts = facts_for(kind)
    assert isinstance(facts, DataProcessingFacts)
    assert facts.regions
    assert set(facts.regions) <= set(REGION_CODES)
    assert facts.processor
    assert facts.training_use
    assert facts.retention


def test_the_facts_are_frozen_and_versioned() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts_for(ProviderKind.OPENAI).retention = "forever"  # type: ignore[misc]
    assert FACTS_VERSION


@pytest.mark.parametrize("kind", CLOUD)
def test_cloud_providers_are_third_parties_with_a_dpa_and_a_cited_source(kind: ProviderKind) -> None:
    facts = facts_for(kind)
    assert facts.third_party
    assert facts.dpa_url is not None
    assert facts.dpa_url.startswith("https://")
    assert "As stated by" in facts.training_use
    assert "https://" in facts.training_use


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        (ProviderKind.OPENAI, "up to 30 days"),
        (ProviderKind.AZURE_OPENAI, "up to 30 days"),
        (ProviderKind.ANTHROPIC, "within 30 days"),
    ],
)
def test_cloud_retention_states_the_providers_period(kind: ProviderKind, phrase: str) -> None:
    assert phrase in facts_for(kind).retention


def test_self_hosted_and_extractive_are_not_third_parties() -> None:
    assert facts_for(ProviderKind.OPENAI_COMPATIBLE).processor.startswith("Your own model server")
    assert "Nothing leaves the installation" in facts_for(ProviderKind.EXTRACTIVE).retention
    for kind in LOCAL:
        assert not facts_for(kind).third_party
        assert facts_for(kind).dpa_url is None


@pytest.mark.parametrize("kind", LOCAL)
@pytest.mark.parametrize("region", REGION_CODES)
def test_local_kinds_are_allowed_in_every_region(kind: ProviderKind, region: str) -> None:
    assert check_region_allowed(kind, region, data_region=None)


@pytest.mark.parametrize(
    ("kind", "region", "data_region", "allowed"),
    [
        (ProviderKind.OPENAI, "eu", "eu", True),
        (ProviderKind.OPENAI, "us", "us", True),
        (ProviderKind.OPENAI, "eu", "us", False),
        (ProviderKind.OPENAI, "eu", None, False),
        (ProviderKind.OPENAI, "af", "af", False),
        (ProviderKind.AZURE_OPENAI, "af", "af", True),
        (ProviderKind.AZURE_OPENAI, "eu", "eu", True),
        (ProviderKind.AZURE_OPENAI, "eu", "af", False),
        (ProviderKind.ANTHROPIC, "us", "us", True),
        (ProviderKind.ANTHROPIC, "eu", "eu", False),
        (ProviderKind.ANTHROPIC, "eu", "us", False),
    ],
)
def test_a_cloud_provider_is_allowed_only_where_it_declares_and_can_process(
    kind: ProviderKind, region: str, data_region: str | None, allowed: bool
) -> None:
    assert check_region_allowed(kind, region, data_region=data_region) is allowed
