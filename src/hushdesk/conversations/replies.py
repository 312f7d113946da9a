"""The agent's reply to a customer message, as a background job.

The web request (or channel webhook) stores the message and records this job in the same
transaction, so a message is never without its job. The job then:

1. reads the conversation and readies the agent in one short transaction;
2. calls the assistant with no transaction open (retrieval, pseudonymisation, the model);
3. stores the reply in the transaction that completes the job, only if the message is still
   waiting for one, so a repeated attempt (a worker killed after the model call, say) writes
   nothing twice.

A model provider that fails is retried with back-off while the customer sees a short notice
("delayed"); only the last attempt turns the failure into the assistant's apology and a
hand-off. A process killed mid-reply leaves the job running until its lease ends, after which
any worker takes it again: the message stays PENDING until a reply is stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.assistant.reply import HandoffReason, Outcome, Reply, Turn
from hushdesk.agents.models import Agent
from hushdesk.agents.providers.base import Role
from hushdesk.agents.runtime import AssistantServices, ProviderNotReady, ReadyAgent, ready_agent, reply
from hushdesk.conversations.live import conversation_topic, status_event
from hushdesk.conversations.models import Author, Conversation, ConversationStatus, Message, ReplyState
from hushdesk.conversations.service import do_store_reply, recent_messages
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.events import EventBus
from hushdesk.infra.jobs.handlers import Handler, Job, PermanentWorkError, WorkError
from hushdesk.infra.jobs.queue import JobQueue, enqueue_work

log = logging.getLogger(__name__)

CONVERSATION_REPLY = "conversation-reply"
# Attempt n waits 5 s * 2 ** (n - 1): about two and a half minutes of retries in all before
# the customer is handed to a person.
REPLY_ATTEMPTS = 6
REPLY_RETRY_DELAY = dt.timedelta(seconds=5)
HISTORY_MESSAGES = 20
DELAYED_NOTICE = (
    "Sorry, answering is taking longer than usual. Your message is saved and I will reply shortly."
)
NOT_READY_TEXT = "I can't answer right now, so I'm bringing in a person from our team."


class ProviderFailing(WorkError):
    """The model provider failed on this attempt; the job is retried."""


def enqueue_reply(session: Session, *, queue: JobQueue, message: Message) -> uuid.UUID:
    """Record the reply job for ``message`` in the caller's transaction (once per message)."""
    return enqueue_work(
        session,
        queue=queue,
        kind=CONVERSATION_REPLY,
        idempotency_key=str(message.id),
        payload={"message_id": str(message.id)},
        workspace_id=message.workspace_id,
    )


@dataclass(frozen=True, slots=True)
class _ReplyWork:
    conversation_id: uuid.UUID
    ready: ReadyAgent | None
    history: tuple[Turn, ...]
    text: str


def register_reply_task(
    queue: JobQueue, *, sessions: sessionmaker[Session], services: AssistantServices, bus: EventBus
) -> None:
    queue.register_handler(
        CONVERSATION_REPLY,
        make_reply_handler(sessions=sessions, services=services, bus=bus),
        max_attempts=REPLY_ATTEMPTS,
        retry_delay=REPLY_RETRY_DELAY,
    )


def make_reply_handler(
    *, sessions: sessionmaker[Session], services: AssistantServices, bus: EventBus
) -> Handler:
    def handle(job: Job) -> None:
        message_id = _message_id(job)
        with unit_of_work(sessions) as session:
            work = _prepare(
                session, message_id=message_id, workspace_id=job.claim.workspace_id, services=services
            )
        if work is None:
            return
        topic = conversation_topic(work.conversation_id)
        bus.publish(topic, status_event("typing"))
        answer: Reply | None = None
        if work.ready is not None:
            answer = reply(work.ready, history=work.history, message=work.text, services=services)
            if answer.handoff is HandoffReason.PROVIDER_FAILED and job.claim.attempt < REPLY_ATTEMPTS:
                bus.publish(topic, status_event("delayed", notice=DELAYED_NOTICE))
                raise ProviderFailing("the model provider failed; the reply is retried")
        with job.completing() as session:
            _store(
                session, bus=bus, message_id=message_id, workspace_id=job.claim.workspace_id, answer=answer
            )

    return handle


def _message_id(job: Job) -> uuid.UUID:
    try:
        return uuid.UUID(str(job.claim.payload["message_id"]))
    except (KeyError, ValueError) as exc:
        raise PermanentWorkError("the reply job names no message") from exc


def _load(
    session: Session, *, message_id: uuid.UUID, workspace_id: uuid.UUID | None
) -> tuple[Message, Conversation] | None:
    if workspace_id is None:
        return None
    message = session.scalar(
        select(Message).where(Message.id == message_id, Message.workspace_id == workspace_id)
    )
    if message is None:
        return None
    conversation = session.scalar(
        select(Conversation).where(
            Conversation.id == message.conversation_id, Conversation.workspace_id == workspace_id
        )
    )
    return None if conversation is None else (message, conversation)


def _prepare(
    session: Session, *, message_id: uuid.UUID, workspace_id: uuid.UUID | None, services: AssistantServices
) -> _ReplyWork | None:
    loaded = _load(session, message_id=message_id, workspace_id=workspace_id)
    if loaded is None:
        return None  # erased, or its workspace deleted: nothing to answer
    message, conversation = loaded
    if message.reply_state != ReplyState.PENDING.value:
        return None
    agent = session.scalar(
        select(Agent).where(
            Agent.id == conversation.agent_id, Agent.workspace_id == conversation.workspace_id
        )
    )
    if agent is None:
        return None
    try:
        ready: ReadyAgent | None = ready_agent(session, agent, services=services)
    except ProviderNotReady:
        # The provider was misconfigured after the message came in: a person answers.
        log.warning("agent not ready to reply", extra={"agent_id": str(agent.id)})
        ready = None
    history = tuple(
        Turn(
            role=Role.USER if earlier.author == Author.CUSTOMER.value else Role.ASSISTANT,
            text=earlier.body,
            outcome=Outcome(earlier.outcome) if earlier.outcome else None,
        )
        for earlier in recent_messages(session, conversation, before_seq=message.seq, limit=HISTORY_MESSAGES)
        if earlier.author in (Author.CUSTOMER.value, Author.ASSISTANT.value) and earlier.body
    )
    return _ReplyWork(conversation_id=conversation.id, ready=ready, history=history, text=message.body)


def _store(
    session: Session,
    *,
    bus: EventBus,
    message_id: uuid.UUID,
    workspace_id: uuid.UUID | None,
    answer: Reply | None,
) -> None:
    loaded = _load(session, message_id=message_id, workspace_id=workspace_id)
    if loaded is None:
        return
    message, conversation = loaded
    if conversation.status != ConversationStatus.BOT.value:
        # A person took the conversation while the agent was thinking: their word stands.
        if message.reply_state == ReplyState.PENDING.value:
            message.reply_state = ReplyState.SKIPPED.value
        return
    if answer is None:
        answer = Reply(
            text=NOT_READY_TEXT,
            outcome=Outcome.HANDED_OFF,
            handoff=HandoffReason.PROVIDER_FAILED,
            citations=(),
            guardrails=(),
        )
    do_store_reply(session, bus=bus, customer_message=message, conversation=conversation, reply=answer)
