"""Choosing an agent's model provider: its settings, its API key in the secret store, the
workspace's region, and the admin's acknowledgement of the provider's data-processing facts.

A third-party provider is only saved when the workspace's region allows it and the admin has
acknowledged the facts shown to them (version ``FACTS_VERSION``); the acknowledgement is its
own audit event. The API key is sealed as a credential; the agent keeps only its id. A key is
never shown again, logged or audited. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor, lock_agent, record_change
from hushdesk.agents.models import Agent
from hushdesk.agents.providers.base import ProviderKind
from hushdesk.agents.providers.facts import FACTS_VERSION, check_region_allowed, facts_for
from hushdesk.agents.providers.registry import ProviderSettings, needs_api_key
from hushdesk.audit.service import do_record_event
from hushdesk.credentials.models import CredentialKind
from hushdesk.credentials.service import do_delete_credential, do_store_credential
from hushdesk.infra.errors import ValidationFailed


@dataclass(frozen=True)
class ProviderChoice:
    """What the provider form submits. ``api_key`` None keeps the stored key (if the kind is
    unchanged); ``acknowledged`` is the facts checkbox."""

    settings: ProviderSettings
    api_key: SecretStr | None
    acknowledged: bool


def provider_settings_of(agent: Agent) -> ProviderSettings:
    return ProviderSettings(
        kind=ProviderKind(agent.provider_kind),
        model=agent.model,
        base_url=agent.provider_base_url,
        api_version=agent.provider_api_version,
        embedding_model=agent.embedding_model,
        data_region=agent.provider_data_region,
    )


def facts_acknowledged(agent: Agent) -> bool:
    """Whether the agent's provider may be used: not a third party, or its current facts
    acknowledged."""
    kind = ProviderKind(agent.provider_kind)
    return not facts_for(kind).third_party or agent.facts_acknowledged == FACTS_VERSION


def do_set_provider(
    session: Session, agent: Agent, choice: ProviderChoice, *, workspace_region: str, actor: Actor
) -> list[str]:
    """Apply ``choice`` to ``agent`` (from an access function). Returns the changed fields;
    with none, nothing is written. Raises ``ValidationFailed`` when the region forbids the
    provider, the facts are not acknowledged, or a needed API key is missing. Locks the
    agent's row. Flushes; never commits."""
    settings = choice.settings
    kind = settings.kind
    if not check_region_allowed(kind, workspace_region, data_region=settings.data_region):
        raise ValidationFailed(
            f"This workspace's data stays in the {workspace_region.upper()} region: choose a provider"
            " that processes data there and declare that region, or a self-hosted model."
        )
    third_party = facts_for(kind).third_party
    kind_changed = kind.value != agent.provider_kind
    if (
        third_party
        and not choice.acknowledged
        and (kind_changed or agent.facts_acknowledged != FACTS_VERSION)
    ):
        raise ValidationFailed("Read the provider's data-processing facts and acknowledge them to use it.")
    has_key = agent.credential_id is not None and not kind_changed
    if needs_api_key(kind) and choice.api_key is None and not has_key:
        raise ValidationFailed("This provider needs an API key.")
    lock_agent(session, agent)
    changed = _apply_settings(agent, settings)
    if choice.api_key is not None or (kind_changed and agent.credential_id is not None):
        _replace_key(session, agent, choice.api_key if kind is not ProviderKind.EXTRACTIVE else None)
        changed.append("api_key")
    if third_party and choice.acknowledged and agent.facts_acknowledged != FACTS_VERSION:
        agent.facts_acknowledged = FACTS_VERSION
        changed.append("facts_acknowledged")
        _audit_acknowledgement(session, agent, actor)
    elif not third_party and agent.facts_acknowledged is not None:
        agent.facts_acknowledged = None
    if changed:
        record_change(session, agent, actor=actor, changed=changed)
    return changed


def _apply_settings(agent: Agent, settings: ProviderSettings) -> list[str]:
    wanted = {
        "provider_kind": settings.kind.value,
        "model": settings.model,
        "provider_base_url": settings.base_url,
        "provider_api_version": settings.api_version,
        "embedding_model": settings.embedding_model,
        "provider_data_region": settings.data_region,
    }
    changed = [name for name, value in wanted.items() if getattr(agent, name) != value]
    for name in changed:
        setattr(agent, name, wanted[name])
    return changed


def _replace_key(session: Session, agent: Agent, api_key: SecretStr | None) -> None:
    previous = agent.credential_id
    agent.credential_id = None
    if api_key is not None:
        stored = do_store_credential(
            session,
            workspace_id=agent.workspace_id,
            name=f"Model API key of {agent.name}",
            kind=CredentialKind.MODEL_API_KEY,
            value=api_key,
        )
        agent.credential_id = stored.id
    session.flush()
    if previous is not None:
        do_delete_credential(session, workspace_id=agent.workspace_id, credential_id=previous)


def _audit_acknowledgement(session: Session, agent: Agent, actor: Actor) -> None:
    do_record_event(
        session,
        workspace_id=agent.workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action="agent.provider.facts_acknowledged",
        target_kind="agent",
        target_id=str(agent.id),
        data={"provider": agent.provider_kind, "facts_version": FACTS_VERSION},
    )
