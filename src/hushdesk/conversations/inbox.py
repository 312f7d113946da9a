"""The team's hand-off inbox: who may reach a conversation, what the inbox lists, reading a
transcript (audited), and the team's actions on a conversation (audited).

Reach. A conversation is reached through its agent: owners, admins and API keys reach every
agent of their workspace, managers and support people only the agents assigned to them
(``hushdesk.agents.service``). A missing conversation, another workspace's and one of an agent
the principal may not reach are the same ``NotFound``.

Reading. Listing shows metadata only (times, statuses, counts, names of the team) and is not a
transcript read. Reading the messages of a conversation, or one of its attachments, writes an
audit event in the caller's transaction, unless the reader is the support person the
conversation is assigned to: answering a customer is their job, not a privileged look.
Owners, admins, managers and API keys are always on the record.

Acting. Taking, resolving and handing back are audited here, at the point of change; a reply
is a message in the transcript, not an audit event. Every function writes in the caller's
transaction: it flushes, never commits. The caller has checked the principal's permission
(``conversation:read`` to read, ``conversation:reply`` to act).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hushdesk.agents.service import access_agent_by_id, list_agents
from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import DataValue, do_record_event
from hushdesk.conversations.models import Attachment, Conversation, ConversationStatus, Message
from hushdesk.conversations.service import (
    ConversationClosed,
    do_hand_back,
    do_hand_off,
    do_person_reply,
    do_resolve,
    do_skip_pending,
)
from hushdesk.identity.models import Membership, Role, User
from hushdesk.identity.principal import Principal, PrincipalKind
from hushdesk.infra.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hushdesk.infra.events import EventBus

# What the inbox lists: those waiting for (or with) a person by default.
STATUS_FILTERS = ("handed_off", "bot", "resolved", "all")
DEFAULT_STATUS = "handed_off"
MAX_INBOX_ROWS = 500
TARGET_KIND = "conversation"


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One conversation as the inbox lists it: metadata, never what anyone wrote."""

    id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str
    channel: str
    status: str
    started_at: dt.datetime
    last_message_at: dt.datetime
    # The display name of the team member it is assigned to, if any.
    assigned_name: str | None
    message_count: int
    handoff_reason: str | None


def access_conversation_by_id(
    session: Session, principal: Principal, conversation_id: uuid.UUID, *, for_update: bool = False
) -> Conversation:
    """The conversation ``conversation_id`` if the principal may reach its agent. Raises
    ``NotFound`` for a missing conversation, another workspace's, and one of an agent not
    assigned to a manager or support person, alike. ``for_update`` locks the row until the
    transaction ends (PostgreSQL; SQLite's writing transaction holds the database lock), so
    that two people acting at once are ordered."""
    query = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.workspace_id == principal.workspace_id
    )
    if for_update:
        query = query.with_for_update()
    conversation = session.scalar(query)
    if conversation is None:
        raise NotFound()
    access_agent_by_id(session, principal, conversation.agent_id)
    return conversation


def check_status_filter(status: str | None) -> str:
    """The inbox filter ``status`` names (``None`` is the default, those handed off). Raises
    ``ValidationFailed`` for anything but ``STATUS_FILTERS``."""
    if status is None or status == "":
        return DEFAULT_STATUS
    if status not in STATUS_FILTERS:
        raise ValidationFailed(f"The status filter is one of: {', '.join(STATUS_FILTERS)}.")
    return status


def list_inbox(
    session: Session, principal: Principal, *, status: str | None, limit: int = MAX_INBOX_ROWS
) -> list[InboxRow]:
    """The conversations of the agents the principal may reach, newest activity first, at most
    ``limit``: those handed off to the team by default, else those of ``status`` ("bot",
    "resolved", or "all"). Reads metadata only: no audit event. Raises ``ValidationFailed``
    for an unknown status."""
    wanted = check_status_filter(status)
    agents = {agent.id: agent.name for agent in list_agents(session, principal)}
    if not agents:
        return []
    query = (
        select(Conversation, User.display_name)
        .outerjoin(
            Membership,
            (Membership.id == Conversation.assigned_membership_id)
            & (Membership.workspace_id == Conversation.workspace_id),
        )
        .outerjoin(User, User.id == Membership.user_id)
        .where(Conversation.workspace_id == principal.workspace_id, Conversation.agent_id.in_(list(agents)))
        .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        .limit(max(1, min(limit, MAX_INBOX_ROWS)))
    )
    if wanted != "all":
        query = query.where(Conversation.status == wanted)
    return [
        InboxRow(
            id=conversation.id,
            agent_id=conversation.agent_id,
            agent_name=agents[conversation.agent_id],
            channel=conversation.channel,
            status=conversation.status,
            started_at=conversation.started_at,
            last_message_at=conversation.last_message_at,
            assigned_name=assigned_name,
            message_count=conversation.last_seq,
            handoff_reason=conversation.handoff_reason,
        )
        for conversation, assigned_name in session.execute(query)
    ]


def is_answering_person(principal: Principal, conversation: Conversation) -> bool:
    """Whether the principal is the support person the conversation is assigned to: the one
    reader whose reads are not audited."""
    return (
        principal.kind is PrincipalKind.USER
        and principal.role is Role.SUPPORT
        and principal.membership_id is not None
        and principal.membership_id == conversation.assigned_membership_id
    )


def read_transcript(session: Session, principal: Principal, conversation: Conversation) -> list[Message]:
    """The conversation's messages in order (open them in ``session``, which must hold the
    keyring). Records ``conversation.transcript.read`` in the caller's transaction unless the
    principal is the assigned support person, so the caller's transaction must be able to
    write. The conversation was reached through ``access_conversation_by_id``."""
    messages = list(
        session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.workspace_id == conversation.workspace_id,
            )
            .order_by(Message.seq)
        )
    )
    if not is_answering_person(principal, conversation):
        _record(
            session,
            principal,
            conversation,
            "conversation.transcript.read",
            {"agent_id": str(conversation.agent_id)},
        )
    return messages


def attachments_by_message(session: Session, conversation: Conversation) -> dict[uuid.UUID, Attachment]:
    """The conversation's attachments, by the id of the message that carries each. Part of a
    transcript read: call it beside ``read_transcript``, which records the read."""
    return {
        attachment.message_id: attachment
        for attachment in session.scalars(
            select(Attachment).where(
                Attachment.conversation_id == conversation.id,
                Attachment.workspace_id == conversation.workspace_id,
            )
        )
    }


def read_attachment(
    session: Session, principal: Principal, conversation: Conversation, attachment_id: uuid.UUID
) -> Attachment:
    """The attachment ``attachment_id`` of ``conversation``, recording
    ``conversation.attachment.read`` in the caller's transaction unless the principal is the
    assigned support person. Raises ``NotFound`` for an attachment of any other
    conversation."""
    attachment = session.scalar(
        select(Attachment).where(
            Attachment.id == attachment_id,
            Attachment.conversation_id == conversation.id,
            Attachment.workspace_id == conversation.workspace_id,
        )
    )
    if attachment is None:
        raise NotFound()
    if not is_answering_person(principal, conversation):
        _record(
            session,
            principal,
            conversation,
            "conversation.attachment.read",
            {"agent_id": str(conversation.agent_id), "attachment_id": str(attachment.id)},
        )
    return attachment


def team_names(
    session: Session, *, workspace_id: uuid.UUID, membership_ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """Display names of the workspace's members among ``membership_ids`` (one query)."""
    wanted = {item for item in membership_ids if item is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(Membership.id, User.display_name)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.id.in_(wanted))
    )
    return {membership_id: name for membership_id, name in rows}


def _membership_of(principal: Principal) -> uuid.UUID:
    if principal.kind is not PrincipalKind.USER or principal.membership_id is None:
        raise PermissionDenied("Only a person of the team acts on a conversation.")
    return principal.membership_id


def do_reply(
    session: Session, *, bus: EventBus, principal: Principal, conversation: Conversation, text: str
) -> Message:
    """The person's reply to the customer (see ``service.do_person_reply``: the conversation
    becomes theirs if nobody had it, and the agent stops answering). Not an audit event: the
    reply is in the transcript. Raises ``MessageEmpty``, ``MessageTooLong``,
    ``ConversationClosed``, or ``PermissionDenied`` for an API key. Flushes."""
    membership_id = _membership_of(principal)
    return do_person_reply(
        session, bus=bus, conversation=conversation, membership_id=membership_id, text=text
    )


def do_take(session: Session, *, bus: EventBus, principal: Principal, conversation: Conversation) -> bool:
    """Assign the conversation to the acting person without replying, handing it off first if
    the agent still has it (its pending answers are cancelled). Idempotent for the person who
    has it already (returns False, records nothing). Raises ``ConversationClosed`` for a
    resolved conversation and ``Conflict`` when another member has taken it: they answer
    until they hand it back. Records ``conversation.taken``. Lock the row first
    (``access_conversation_by_id(..., for_update=True)``). Flushes."""
    membership_id = _membership_of(principal)
    if conversation.status == ConversationStatus.RESOLVED.value:
        raise ConversationClosed()
    if conversation.assigned_membership_id == membership_id:
        return False
    if conversation.assigned_membership_id is not None:
        raise Conflict("Someone else on the team has taken this conversation.")
    was_with_agent = conversation.status == ConversationStatus.BOT.value
    if was_with_agent:
        do_skip_pending(session, conversation=conversation)
        do_hand_off(session, bus=bus, conversation=conversation, reason="taken_over")
    conversation.assigned_membership_id = membership_id
    session.flush()
    _record(
        session,
        principal,
        conversation,
        "conversation.taken",
        {"agent_id": str(conversation.agent_id), "from_agent": was_with_agent},
    )
    return True


def do_resolve_conversation(
    session: Session, *, bus: EventBus, principal: Principal, conversation: Conversation
) -> bool:
    """End the conversation as resolved by a person (its duration is fixed from here) and
    record ``conversation.resolved``. Idempotent: a resolved conversation is left as it is and
    nothing is recorded (returns False). Flushes."""
    _membership_of(principal)
    if conversation.status == ConversationStatus.RESOLVED.value:
        return False
    do_resolve(session, bus=bus, conversation=conversation, by_person=True)
    _record(
        session, principal, conversation, "conversation.resolved", {"agent_id": str(conversation.agent_id)}
    )
    return True


def do_hand_back_conversation(
    session: Session, *, bus: EventBus, principal: Principal, conversation: Conversation
) -> None:
    """Give a handed-off conversation back to the agent, which answers the next customer
    message, and record ``conversation.handed_back``. Raises ``Conflict`` unless the team has
    the conversation. Flushes."""
    _membership_of(principal)
    previous = conversation.assigned_membership_id
    do_hand_back(session, bus=bus, conversation=conversation)
    _record(
        session,
        principal,
        conversation,
        "conversation.handed_back",
        {"agent_id": str(conversation.agent_id), "was_assigned": previous is not None},
    )


def actor_of(principal: Principal) -> tuple[ActorKind, str]:
    """The audit actor of a principal: a person by their user id, a key by its id."""
    kind = ActorKind.USER if principal.kind is PrincipalKind.USER else ActorKind.API_KEY
    return kind, str(principal.id)


def _record(
    session: Session,
    principal: Principal,
    conversation: Conversation,
    action: str,
    data: Mapping[str, DataValue],
) -> None:
    actor_kind, actor_id = actor_of(principal)
    do_record_event(
        session,
        workspace_id=conversation.workspace_id,
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        target_kind=TARGET_KIND,
        target_id=str(conversation.id),
        data=data,
    )
