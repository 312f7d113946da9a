"""Consent records: proof that a contact was shown (or accepted) an agent's notice before
anything they typed was processed."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.models import Agent
from hushdesk.conversations.models import ConsentKind, ConsentRecord
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import Conflict

DEFAULT_CONSENT_NOTICE = (
    "This chat is answered by an AI assistant and may be handed to a person from our team. "
    "We store the conversation to answer you and to improve our support; personal details are "
    "encrypted and removed from what is sent to AI services. You can ask us to export or erase it."
)


class ConsentRequired(Conflict):
    code = "consent_required"
    default_message = "Accept the notice before sending a message."


class ConsentVersionStale(Conflict):
    code = "consent_stale"
    default_message = "The notice has changed: read it again before accepting."


def notice_text(agent: Agent) -> str:
    """The notice the customer sees: the agent's own, or the product's default."""
    return agent.consent_notice or DEFAULT_CONSENT_NOTICE


def notice_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def do_record_consent(
    session: Session,
    *,
    agent: Agent,
    contact_id: uuid.UUID,
    channel: str,
    kind: ConsentKind,
    version: int,
    widget_session_id: uuid.UUID | None = None,
) -> ConsentRecord:
    """Record that the contact accepted (or was shown) the agent's current notice. ``version``
    is the configuration version the customer saw; an older one is refused with
    ``ConsentVersionStale`` so that the record never names words the customer did not see.
    Idempotent per widget session and version. Flushes."""
    if version != agent.config_version:
        raise ConsentVersionStale()
    if widget_session_id is not None:
        existing = session.scalar(
            select(ConsentRecord).where(
                ConsentRecord.workspace_id == agent.workspace_id,
                ConsentRecord.widget_session_id == widget_session_id,
                ConsentRecord.notice_version == version,
            )
        )
        if existing is not None:
            return existing
    record = ConsentRecord(
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        contact_id=contact_id,
        widget_session_id=widget_session_id,
        channel=channel,
        kind=kind.value,
        notice_version=version,
        notice_digest=notice_digest(notice_text(agent)),
        recorded_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return record


def has_consent(session: Session, *, workspace_id: uuid.UUID, widget_session_id: uuid.UUID) -> bool:
    """Whether this widget session has a consent record (of any notice version: a notice
    changed mid-conversation does not interrupt it)."""
    found = session.scalar(
        select(ConsentRecord.id)
        .where(
            ConsentRecord.workspace_id == workspace_id, ConsentRecord.widget_session_id == widget_session_id
        )
        .limit(1)
    )
    return found is not None
