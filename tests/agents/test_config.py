"""An agent's settings: checked, applied, versioned with a sealed snapshot, audited by field
name only."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select

from hushdesk.agents.config import check_domain, do_update_settings, list_versions, settings_of
from hushdesk.agents.models import Agent
from hushdesk.audit.models import AuditEvent
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import ValidationFailed
from tests.agents.conftest import OPERATOR, KnowledgeWorld

PROMPT = "You are the front desk of Acme Outdoor. PROMPT-CANARY-91c2"


def test_a_change_makes_a_version_and_an_audit_event_naming_the_fields(world: KnowledgeWorld) -> None:
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        wanted = dataclasses.replace(
            settings_of(agent),
            system_prompt=PROMPT,
            tone="formal",
            allowed_domains=("Shop.Example.com", "*.acme.example"),
        )
        changed = do_update_settings(session, agent, wanted, actor=OPERATOR)
    assert sorted(changed) == ["allowed_domains", "system_prompt", "tone"]
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        versions = list_versions(session, agent)
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "agent.config.updated")).one()
        raw = session.execute(
            select(Agent.__table__.c.system_prompt).where(Agent.id == agent.id)
        ).scalar_one()
    assert agent.config_version == 2
    assert agent.allowed_domains == ["shop.example.com", "*.acme.example"]
    assert [version.version for version in versions] == [2, 1]
    assert versions[0].snapshot["system_prompt"] == PROMPT
    assert versions[0].changed_fields == changed
    assert event.data == {"version": 2, "fields": ",".join(changed)}
    assert b"PROMPT-CANARY" not in raw.ciphertext


def test_saving_unchanged_settings_writes_nothing(world: KnowledgeWorld) -> None:
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        assert do_update_settings(session, agent, settings_of(agent), actor=OPERATOR) == []
        assert agent.config_version == 1
        assert len(list_versions(session, agent)) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", 5.0, "temperature"),
        ("tone", "menacing", "tone"),
        ("retrieval_mode", "psychic", "retrieval mode"),
        ("system_prompt", "x" * 8001, "system prompt"),
        ("greeting", "hello\x07", "control characters"),
        ("handoff_after_failures", 0, "unanswered"),
        ("allowed_domains", ("http://shop.example.com/path",), "not a domain"),
        ("allowed_domains", tuple(f"s{n}.example.com" for n in range(21)), "at most 20"),
        ("name", "", "name"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(
    world: KnowledgeWorld, field: str, value: Any, message: str
) -> None:
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        with pytest.raises(ValidationFailed, match=message):
            do_update_settings(
                session, agent, dataclasses.replace(settings_of(agent), **{field: value}), actor=OPERATOR
            )
    with unit_of_work(world.sessions) as session:
        agent = world.agent(session, "support")
        assert agent.config_version == 1
        assert settings_of(agent).tone == "friendly"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("shop.example.com", "shop.example.com"),
        ("*.Example.COM.", "*.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_domains_are_normalised(given: str, stored: str) -> None:
    assert check_domain(given) == stored


@pytest.mark.parametrize(
    "given", ["localhost", "example.com:8080", "https://example.com", "-bad.example.com", "a..b"]
)
def test_what_is_not_a_domain_is_refused(given: str) -> None:
    with pytest.raises(ValidationFailed):
        check_domain(given)
