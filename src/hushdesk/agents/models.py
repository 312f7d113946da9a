"""The agent table and the assignment of team members to agents.

Managers and support people see and act only on the agents assigned to them; the access
functions in ``hushdesk.agents.service`` apply that rule.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey


class Agent(UUIDPrimaryKey, CreatedAt, Base):
    """An AI support agent of one workspace."""

    __tablename__ = "agent"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))


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
