"""Conversations and their messages: open one, append to it in order, store the agent's
reply exactly once, and move it between the agent and the team.

Every function here takes rows the caller has already loaded within their workspace (by an
access function, a verified widget token, a claimed job) and writes in the caller's
transaction: it flushes, never commits. Live updates are published once that transaction
commits (``hushdesk.conversations.live``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hushdesk.agents.assistant.reply import Outcome, Reply
from hushdesk.conversations.live import (
    conversation_topic,
    inbox_event,
    inbox_topic,
    message_event,
    publish_after_commit,
    status_event,
)
from hushdesk.conversations.models import (
    Author,
    Conversation,
    ConversationStatus,
    Message,
    ReplyState,
    Resolution,
)
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.errors import Conflict, ValidationFailed
from hushdesk.infra.events import EventBus
from hushdesk.infra.text import has_control_characters

MAX_MESSAGE_CHARS = 2000
HAND_BACK_NOTICE = "You are chatting with our assistant again."
RESOLVED_NOTICE = "This conversation has been closed. Write again at any time."


class MessageTooLong(ValidationFailed):
    code = "message_too_long"
    default_message = f"A message is at most {MAX_MESSAGE_CHARS} characters."


class MessageEmpty(ValidationFailed):
    code = "message_empty"
    default_message = "Write a message first."


class ConversationClosed(Conflict):
    code = "conversation_closed"
    default_message = "This conversation has been closed."


def check_message_text(text: str) -> str:
    """The text as it is stored: trimmed, at most ``MAX_MESSAGE_CHARS``, without control
    characters other than newlines and tabs. Raises ``MessageEmpty`` or ``MessageTooLong``."""
    clean = text.replace("\r\n", "\n").strip()
    if not clean:
        raise MessageEmpty()
    if len(clean) > MAX_MESSAGE_CHARS:
        raise MessageTooLong()
    if has_control_characters(clean.replace("\n", " ").replace("\t", " ")):
        raise ValidationFailed("A message may not contain control characters.")
    return clean


def find_open_conversation(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    contact_id: uuid.UUID,
    widget_session_id: uuid.UUID | None,
) -> Conversation | None:
    """The contact's latest conversation with the agent that is not resolved; for an anonymous
    widget visitor only one of this widget session."""
    query = select(Conversation).where(
        Conversation.workspace_id == workspace_id,
        Conversation.agent_id == agent_id,
        Conversation.contact_id == contact_id,
        Conversation.status != ConversationStatus.RESOLVED.value,
    )
    if widget_session_id is not None:
        query = query.where(Conversation.widget_session_id == widget_session_id)
    return session.scalar(query.order_by(Conversation.started_at.desc()).limit(1))


def do_open_conversation(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    agent_id: uuid.UUID,
    contact_id: uuid.UUID,
    channel: str,
    widget_session_id: uuid.UUID | None = None,
) -> Conversation:
    """The open conversation (see ``find_open_conversation``), or a new one. Flushes."""
    found = find_open_conversation(
        session,
        workspace_id=workspace_id,
        agent_id=agent_id,
        contact_id=contact_id,
        widget_session_id=widget_session_id,
    )
    if found is not None:
        return found
    now = utcnow()
    conversation = Conversation(
        workspace_id=workspace_id,
        agent_id=agent_id,
        contact_id=contact_id,
        channel=channel,
        widget_session_id=widget_session_id,
        status=ConversationStatus.BOT.value,
        last_seq=0,
        started_at=now,
        last_message_at=now,
    )
    session.add(conversation)
    session.flush()
    return conversation


def _next_seq(session: Session, conversation: Conversation, now: dt.datetime) -> int:
    # One atomic increment: two messages written at once get different numbers, and on
    # PostgreSQL the row lock it takes orders them until the first transaction ends.
    seq = session.execute(
        update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.workspace_id == conversation.workspace_id)
        .values(last_seq=Conversation.last_seq + 1, last_message_at=now)
        .returning(Conversation.last_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    session.refresh(conversation, ["last_seq", "last_message_at", "status"])
    return int(seq)


def append_message(
    session: Session,
    *,
    bus: EventBus,
    conversation: Conversation,
    author: Author,
    body: str,
    client_message_id: str | None = None,
    reply_state: ReplyState | None = None,
    outcome: str | None = None,
    citations: list[dict[str, Any]] | None = None,
    author_membership_id: uuid.UUID | None = None,
) -> Message:
    """Add a message at the conversation's next sequence number and tell its subscribers
    once the transaction commits. Flushes."""
    now = utcnow()
    message = Message(
        workspace_id=conversation.workspace_id,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        seq=_next_seq(session, conversation, now),
        author=author.value,
        author_membership_id=author_membership_id,
        body=body,
        citations=citations,
        outcome=outcome,
        client_message_id=client_message_id,
        reply_state=reply_state.value if reply_state else None,
        created_at=now,
    )
    session.add(message)
    session.flush()
    publish_after_commit(
        session,
        bus,
        conversation_topic(conversation.id),
        message_event(message_id=message.id, seq=message.seq),
    )
    return message


@dataclass(frozen=True, slots=True)
class StoredInbound:
    message: Message
    # False when the same client message id was stored before: nothing new was written.
    created: bool
    # True when the agent should answer it (the conversation is with the agent).
    needs_reply: bool


def do_store_customer_message(
    session: Session,
    *,
    bus: EventBus,
    conversation: Conversation,
    text: str,
    client_message_id: str | None,
) -> StoredInbound:
    """Store what the customer wrote, once per ``client_message_id``. While the agent has the
    conversation the message is left PENDING for the reply job; while a person has it, it is
    SKIPPED and the inbox is told. Raises ``ConversationClosed`` for a resolved conversation
    (the caller opens a new one). Flushes."""
    if client_message_id is not None:
        existing = _by_client_id(session, conversation, client_message_id)
        if existing is not None:
            return StoredInbound(existing, created=False, needs_reply=False)
    if conversation.status == ConversationStatus.RESOLVED.value:
        raise ConversationClosed()
    with_agent = conversation.status == ConversationStatus.BOT.value
    try:
        # Two requests with one client id at once (a retry racing the original) meet at the
        # unique index; the loser's savepoint rolls back and it answers with the winner's row.
        with session.begin_nested():
            message = append_message(
                session,
                bus=bus,
                conversation=conversation,
                author=Author.CUSTOMER,
                body=text,
                client_message_id=client_message_id,
                reply_state=ReplyState.PENDING if with_agent else ReplyState.SKIPPED,
            )
    except IntegrityError:
        if client_message_id is None:
            raise
        existing = _by_client_id(session, conversation, client_message_id)
        if existing is None:
            raise
        return StoredInbound(existing, created=False, needs_reply=False)
    if not with_agent:
        _tell_inbox(session, bus, conversation)
    return StoredInbound(message, created=True, needs_reply=with_agent)


def _by_client_id(session: Session, conversation: Conversation, client_message_id: str) -> Message | None:
    return session.scalar(
        select(Message).where(
            Message.conversation_id == conversation.id,
            Message.workspace_id == conversation.workspace_id,
            Message.client_message_id == client_message_id,
        )
    )


def recent_messages(
    session: Session, conversation: Conversation, *, before_seq: int, limit: int = 20
) -> list[Message]:
    """Up to ``limit`` messages before ``before_seq``, oldest first."""
    rows = session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.workspace_id == conversation.workspace_id,
            Message.seq < before_seq,
        )
        .order_by(Message.seq.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))


def messages_after(
    session: Session, conversation: Conversation, *, after_seq: int, limit: int = 200
) -> list[Message]:
    """The conversation's messages after ``after_seq``, in order."""
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.workspace_id == conversation.workspace_id,
                Message.seq > after_seq,
            )
            .order_by(Message.seq)
            .limit(limit)
        )
    )


def citations_of(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"title": passage.heading or passage.source, "source": passage.source} for passage in reply.citations
    ]


def do_store_reply(
    session: Session,
    *,
    bus: EventBus,
    customer_message: Message,
    conversation: Conversation,
    reply: Reply,
) -> Message | None:
    """Store the agent's reply to ``customer_message`` exactly once: the message row is
    locked and must still be PENDING (a second attempt of the same job finds it ANSWERED and
    writes nothing, returning None). A hand-off moves the conversation to the team and tells
    their inbox. Flushes."""
    locked = session.scalar(
        select(Message)
        .where(Message.id == customer_message.id, Message.workspace_id == customer_message.workspace_id)
        .with_for_update()
    )
    if locked is None or locked.reply_state != ReplyState.PENDING.value:
        return None
    locked.reply_state = ReplyState.ANSWERED.value
    stored = append_message(
        session,
        bus=bus,
        conversation=conversation,
        author=Author.ASSISTANT,
        body=reply.text,
        outcome=reply.outcome.value,
        citations=citations_of(reply) or None,
    )
    if reply.outcome is Outcome.HANDED_OFF and conversation.status == ConversationStatus.BOT.value:
        do_hand_off(
            session, bus=bus, conversation=conversation, reason=reply.handoff.value if reply.handoff else None
        )
    return stored


def do_skip_pending(session: Session, *, conversation: Conversation) -> int:
    """Mark the conversation's pending customer messages SKIPPED (a person has taken it, so
    the agent must not answer them). Returns how many."""
    result = session.execute(
        update(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.workspace_id == conversation.workspace_id,
            Message.reply_state == ReplyState.PENDING.value,
        )
        .values(reply_state=ReplyState.SKIPPED.value)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def do_hand_off(session: Session, *, bus: EventBus, conversation: Conversation, reason: str | None) -> None:
    """Give the conversation to the team: it shows in the inbox of the people assigned to its
    agent, the widget says so, and the agent stops answering. Flushes."""
    now = utcnow()
    conversation.status = ConversationStatus.HANDED_OFF.value
    conversation.handoff_reason = reason
    conversation.handed_off_at = now
    session.flush()
    publish_after_commit(session, bus, conversation_topic(conversation.id), status_event("handed_off"))
    _tell_inbox(session, bus, conversation)


def do_hand_back(session: Session, *, bus: EventBus, conversation: Conversation) -> None:
    """Give a handed-off conversation back to the agent. Flushes."""
    if conversation.status != ConversationStatus.HANDED_OFF.value:
        raise Conflict("Only a conversation with the team can be handed back.")
    conversation.status = ConversationStatus.BOT.value
    conversation.assigned_membership_id = None
    session.flush()
    append_message(session, bus=bus, conversation=conversation, author=Author.NOTICE, body=HAND_BACK_NOTICE)
    publish_after_commit(session, bus, conversation_topic(conversation.id), status_event("bot"))
    _tell_inbox(session, bus, conversation)


def do_resolve(session: Session, *, bus: EventBus, conversation: Conversation, by_person: bool) -> None:
    """End the conversation with its resolution; its duration is fixed from here. Flushes."""
    if conversation.status == ConversationStatus.RESOLVED.value:
        return
    do_skip_pending(session, conversation=conversation)
    conversation.status = ConversationStatus.RESOLVED.value
    conversation.resolution = (Resolution.RESOLVED_BY_PERSON if by_person else Resolution.ANSWERED).value
    conversation.ended_at = utcnow()
    session.flush()
    append_message(session, bus=bus, conversation=conversation, author=Author.NOTICE, body=RESOLVED_NOTICE)
    publish_after_commit(session, bus, conversation_topic(conversation.id), status_event("resolved"))
    _tell_inbox(session, bus, conversation)


def do_person_reply(
    session: Session, *, bus: EventBus, conversation: Conversation, membership_id: uuid.UUID, text: str
) -> Message:
    """A team member's reply. Taking the conversation: it becomes theirs, is handed off if the
    agent still had it, and the agent's pending answers are cancelled. Flushes."""
    if conversation.status == ConversationStatus.RESOLVED.value:
        raise ConversationClosed()
    body = check_message_text(text)
    if conversation.status == ConversationStatus.BOT.value:
        do_skip_pending(session, conversation=conversation)
        do_hand_off(session, bus=bus, conversation=conversation, reason="taken_over")
    if conversation.assigned_membership_id is None:
        conversation.assigned_membership_id = membership_id
    return append_message(
        session,
        bus=bus,
        conversation=conversation,
        author=Author.PERSON,
        body=body,
        author_membership_id=membership_id,
    )


def _tell_inbox(session: Session, bus: EventBus, conversation: Conversation) -> None:
    publish_after_commit(
        session,
        bus,
        inbox_topic(conversation.workspace_id),
        inbox_event(
            conversation_id=conversation.id, agent_id=conversation.agent_id, status=conversation.status
        ),
    )
