"""An agent's configuration: checking it, changing it, and its versioned, audited history.

Every change makes a new version (``AgentConfigVersion``) holding the whole configuration as
it then was, sealed, with who made it and which fields changed; the audit event names the
fields, never their values (a system prompt is agent configuration the business keeps
confidential). Services flush, never commit.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent, AgentConfigVersion
from hushdesk.agents.service import check_agent_name
from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import ValidationFailed
from hushdesk.infra.text import has_control_characters

TONES = ("friendly", "formal", "concise")
RETRIEVAL_MODES = ("lexical", "hybrid")
MAX_SYSTEM_PROMPT = 8000
MAX_GREETING = 500
MAX_CONSENT_NOTICE = 2000
MAX_DOMAINS = 20
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the audit log names them."""

    kind: ActorKind
    id: str


@dataclass(frozen=True)
class AgentSettings:
    """What an agent's settings page edits (the provider is set apart: ``providers_setup``)."""

    name: str
    system_prompt: str
    greeting: str
    consent_notice: str
    tone: str
    temperature: float
    retrieval_mode: str
    handoff_on_request: bool
    handoff_min_score: float
    handoff_after_failures: int
    allowed_domains: tuple[str, ...]


def settings_of(agent: Agent) -> AgentSettings:
    return AgentSettings(
        name=agent.name,
        system_prompt=agent.system_prompt or "",
        greeting=agent.greeting or "",
        consent_notice=agent.consent_notice or "",
        tone=agent.tone,
        temperature=agent.temperature,
        retrieval_mode=agent.retrieval_mode,
        handoff_on_request=agent.handoff_on_request,
        handoff_min_score=agent.handoff_min_score,
        handoff_after_failures=agent.handoff_after_failures,
        allowed_domains=tuple(agent.allowed_domains),
    )


def snapshot_of(agent: Agent) -> dict[str, Any]:
    """The whole configuration, settings and provider, as stored in a version."""
    snapshot = dataclasses.asdict(settings_of(agent))
    snapshot["allowed_domains"] = list(agent.allowed_domains)
    snapshot.update(
        provider_kind=agent.provider_kind,
        model=agent.model,
        provider_base_url=agent.provider_base_url,
        provider_api_version=agent.provider_api_version,
        provider_data_region=agent.provider_data_region,
        embedding_model=agent.embedding_model,
        credential_id=str(agent.credential_id) if agent.credential_id else None,
        facts_acknowledged=agent.facts_acknowledged,
    )
    return snapshot


def check_text(value: str, *, field: str, limit: int) -> str:
    """Multi-line text a person wrote: trimmed, at most ``limit`` characters, no control
    characters but line breaks and tabs. Raises ``ValidationFailed`` naming the field."""
    clean = value.replace("\r\n", "\n").strip()
    if len(clean) > limit:
        raise ValidationFailed(f"The {field} is at most {limit} characters.")
    if has_control_characters(clean.replace("\n", "").replace("\t", "")):
        raise ValidationFailed(f"The {field} may not contain control characters.")
    return clean


def check_domain(value: str) -> str:
    """A website domain the widget may be embedded on: a host name (IDNA), optionally with a
    leading ``*.`` for its subdomains. No scheme, path or port. Raises ``ValidationFailed``."""
    raw = value.strip().lower().rstrip(".")
    wildcard = raw.startswith("*.")
    host = raw[2:] if wildcard else raw
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValidationFailed(f"{value[:80]!r} is not a domain name.") from exc
    labels = ascii_host.split(".")
    if (
        len(ascii_host) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
    ):
        raise ValidationFailed(
            f"{value[:80]!r} is not a domain name: give a host such as shop.example.com or *.example.com."
        )
    return f"*.{ascii_host}" if wildcard else ascii_host


def check_domains(values: Iterable[str]) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        if value.strip() and (domain := check_domain(value)) not in found:
            found.append(domain)
    if len(found) > MAX_DOMAINS:
        raise ValidationFailed(f"An agent allows at most {MAX_DOMAINS} domains.")
    return tuple(found)


def check_agent_settings(settings: AgentSettings) -> AgentSettings:
    """The settings, cleaned; ``ValidationFailed`` with a message naming the first bad field."""
    if settings.tone not in TONES:
        raise ValidationFailed(f"The tone is one of: {', '.join(TONES)}.")
    if settings.retrieval_mode not in RETRIEVAL_MODES:
        raise ValidationFailed(f"The retrieval mode is one of: {', '.join(RETRIEVAL_MODES)}.")
    if not 0.0 <= settings.temperature <= 1.0:
        raise ValidationFailed("The temperature is between 0 and 1.")
    if not 0.0 <= settings.handoff_min_score <= 100.0:
        raise ValidationFailed("The minimum relevance score is between 0 and 100.")
    if not 1 <= settings.handoff_after_failures <= 10:
        raise ValidationFailed("Hand off after 1 to 10 unanswered questions in a row.")
    return dataclasses.replace(
        settings,
        name=check_agent_name(settings.name),
        system_prompt=check_text(settings.system_prompt, field="system prompt", limit=MAX_SYSTEM_PROMPT),
        greeting=check_text(settings.greeting, field="greeting", limit=MAX_GREETING),
        consent_notice=check_text(settings.consent_notice, field="consent notice", limit=MAX_CONSENT_NOTICE),
        allowed_domains=check_domains(settings.allowed_domains),
    )


def do_record_first_version(session: Session, agent: Agent, *, actor: Actor) -> AgentConfigVersion:
    """Version 1 of a new agent, and the ``agent.created`` event. Flushes; never commits."""
    version = _new_version(session, agent, actor=actor, changed=["created"])
    _audit(session, agent, actor=actor, action="agent.created", version=1, fields=())
    return version


def do_update_settings(session: Session, agent: Agent, settings: AgentSettings, *, actor: Actor) -> list[str]:
    """Apply checked ``settings`` to ``agent`` (obtained by an access function). Returns the
    names of the fields that changed; with none, nothing is written. Otherwise the agent's
    row is locked, the version bumped and recorded, and ``agent.config.updated`` audited.
    Raises ``ValidationFailed``. Flushes; never commits."""
    clean = check_agent_settings(settings)
    current = settings_of(agent)
    changed = [
        field.name
        for field in dataclasses.fields(AgentSettings)
        if getattr(clean, field.name) != getattr(current, field.name)
    ]
    if not changed:
        return []
    lock_agent(session, agent)
    for name in changed:
        value = getattr(clean, name)
        if name == "allowed_domains":
            value = list(value)
        elif name in ("system_prompt", "greeting", "consent_notice"):
            value = value or None
        setattr(agent, name, value)
    record_change(session, agent, actor=actor, changed=changed)
    return changed


def record_change(session: Session, agent: Agent, *, actor: Actor, changed: list[str]) -> None:
    """Bump the agent's version after a change to it and record version and audit event."""
    agent.config_version += 1
    agent.updated_at = utcnow()
    session.flush()
    _new_version(session, agent, actor=actor, changed=changed)
    _audit(
        session,
        agent,
        actor=actor,
        action="agent.config.updated",
        version=agent.config_version,
        fields=changed,
    )


def lock_agent(session: Session, agent: Agent) -> None:
    """Lock the agent's row for the rest of the transaction (PostgreSQL; SQLite writers are
    serialised anyway), so two editors cannot both make version N+1."""
    session.execute(select(Agent.id).where(Agent.id == agent.id).with_for_update())
    session.refresh(agent, attribute_names=["config_version"])


def list_versions(session: Session, agent: Agent) -> list[AgentConfigVersion]:
    """The agent's versions, newest first."""
    return list(
        session.scalars(
            select(AgentConfigVersion)
            .where(
                AgentConfigVersion.agent_id == agent.id, AgentConfigVersion.workspace_id == agent.workspace_id
            )
            .order_by(AgentConfigVersion.version.desc())
        )
    )


def _new_version(session: Session, agent: Agent, *, actor: Actor, changed: list[str]) -> AgentConfigVersion:
    version = AgentConfigVersion(
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        version=agent.config_version,
        actor_kind=actor.kind.value,
        actor_id=actor.id,
        changed_fields=changed,
        snapshot=snapshot_of(agent),
    )
    session.add(version)
    session.flush()
    return version


def _audit(
    session: Session, agent: Agent, *, actor: Actor, action: str, version: int, fields: Iterable[str]
) -> None:
    do_record_event(
        session,
        workspace_id=agent.workspace_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        target_kind="agent",
        target_id=str(agent.id),
        data={"version": version, "fields": ",".join(fields)},
    )
