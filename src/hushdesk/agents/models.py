"""The agent table, its configuration history, and the assignment of team members to agents.

Managers and support people see and act only on the agents assigned to them; the access
functions in ``hushdesk.agents.service`` apply that rule.

What is sealed (``EncryptedModel``): the system prompt, the greeting and the consent notice
(``None`` when not set), and every version's snapshot. What stays plaintext, because the
product routes by it and it says nothing about anyone's customers: the name and slug, the
provider kind, model name and endpoint, the retrieval mode, the temperature and tone, the
hand-off thresholds and the allowed website domains (the widget checks origins against them
before any key is opened).
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.crypto.columns import EncryptedJSON, EncryptedModel, EncryptedText
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow

WIDGET_KEY_PREFIX = "hd_pk_"


def new_widget_key() -> str:
    """A fresh publishable key: the prefix and 26 base32 characters (130 random bits)."""
    return WIDGET_KEY_PREFIX + base64.b32encode(secrets.token_bytes(20)).decode("ascii")[:26].lower()


class Agent(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """An AI support agent of one workspace, and its current configuration."""

    __tablename__ = "agent"
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(64))
    system_prompt: Mapped[str | None] = mapped_column(EncryptedText(), default=None)
    greeting: Mapped[str | None] = mapped_column(EncryptedText(), default=None)
    consent_notice: Mapped[str | None] = mapped_column(EncryptedText(), default=None)
    tone: Mapped[str] = mapped_column(String(16), default="friendly")
    temperature: Mapped[float] = mapped_column(Float, default=0.2)
    provider_kind: Mapped[str] = mapped_column(String(32), default="extractive")
    model: Mapped[str] = mapped_column(String(200), default="")
    provider_base_url: Mapped[str | None] = mapped_column(String(500), default=None)
    provider_api_version: Mapped[str | None] = mapped_column(String(40), default=None)
    provider_data_region: Mapped[str | None] = mapped_column(String(8), default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(200), default=None)
    # The provider's API key, in the workspace's secret store.
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("credential.id", ondelete="SET NULL"), index=True, default=None
    )
    # The version of the provider's data-processing facts an admin acknowledged for the
    # current provider; a third-party provider is not used without it.
    facts_acknowledged: Mapped[str | None] = mapped_column(String(40), default=None)
    retrieval_mode: Mapped[str] = mapped_column(String(16), default="lexical")
    handoff_on_request: Mapped[bool] = mapped_column(default=True)
    handoff_min_score: Mapped[float] = mapped_column(Float, default=0.0)
    handoff_after_failures: Mapped[int] = mapped_column(Integer, default=2)
    allowed_domains: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The widget's publishable key (public: it names the agent in the embed snippet).
    widget_key: Mapped[str] = mapped_column(String(40), unique=True, default=new_widget_key)
    # The secret the business's server signs identity tokens with (None until one is made).
    identity_secret: Mapped[str | None] = mapped_column(EncryptedText(), default=None)
    config_version: Mapped[int] = mapped_column(Integer, default=1)
    # Bumped whenever the agent's chunks change, so that every process rebuilds its index.
    knowledge_revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AgentConfigVersion(EncryptedModel, UUIDPrimaryKey, Base):
    """One version of an agent's configuration: who made it, when, which fields changed, and
    the whole configuration as it then was (sealed: it holds the system prompt)."""

    __tablename__ = "agent_config_version"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    changed_fields: Mapped[list[str]] = mapped_column(JSON)
    snapshot: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON())


class AgentAssignment(UUIDPrimaryKey, CreatedAt, Base):
    """A member assigned to an agent. Removing the member (their membership row) or the agent
    removes the assignment with it."""

    __tablename__ = "agent_assignment"
    __table_args__ = (UniqueConstraint("agent_id", "membership_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("membership.id", ondelete="CASCADE"), index=True
    )
