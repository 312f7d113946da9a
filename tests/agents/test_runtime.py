"""ready_agent refuses a provider that cannot be used, before any network call: facts not
acknowledged, a region that does not match, no API key."""

from __future__ import annotations

import httpx
import pytest

from hushdesk.agents.knowledge.search import KnowledgeIndexCache
from hushdesk.agents.providers.facts import FACTS_VERSION
from hushdesk.agents.runtime import AssistantServices, ProviderNotReady, ready_agent
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.privacy.pii import Detector
from tests.agents.conftest import KnowledgeWorld


def _services() -> AssistantServices:
    def no_network() -> httpx.Client:
        raise AssertionError("no outbound client may be made")

    return AssistantServices(detector=Detector, index_cache=KnowledgeIndexCache(), http_client=no_network)


@pytest.mark.parametrize(
    ("region", "acknowledged", "message"),
    [("eu", None, "Acknowledge"), ("us", FACTS_VERSION, "region"), ("eu", FACTS_VERSION, "API key")],
)
def test_a_provider_that_cannot_be_used_is_refused(
    world: KnowledgeWorld, region: str, acknowledged: str | None, message: str
) -> None:
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")  # of the EU workspace
        agent.provider_kind = "openai"
        agent.model = "gpt-test"
        agent.provider_data_region = region
        agent.facts_acknowledged = acknowledged
        with pytest.raises(ProviderNotReady, match=message):
            ready_agent(session, agent, services=_services())


def test_the_offline_responder_is_always_ready(world: KnowledgeWorld) -> None:
    with unit_of_work(world.sessions) as session:
        ready = ready_agent(session, world.agent(session, "support"), services=_services())
    assert ready.provider.kind.value == "extractive"
    assert ready.api_key is None
