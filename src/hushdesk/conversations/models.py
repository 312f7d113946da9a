"""Contacts, conversations, messages, attachments, consent records and widget sessions.

What is sealed, and under which key. Everything a customer said or is lives under that
contact's own key (``contact_attribute="contact_id"``): the contact's identifier and name,
every message body of their conversations (the assistant's and the team's replies too, since
they quote the customer), attachment names and citations. Erasing the contact destroys the key
and all of it becomes unreadable at once, backups included.

What stays plaintext, because the product routes, counts and expires by it and it says
nothing a reader could tie to a person without the keys: ids, channels, times, statuses,
sequence numbers, the keyed blind index of the identifier (equality within one workspace
only), media types and sizes, the origin a widget session was opened from, and consent
records (which notice version was shown or accepted, when, on which channel).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hushdesk.crypto.columns import EncryptedJSON, EncryptedModel, EncryptedText
from hushdesk.infra.db.base import Base, CreatedAt, UUIDPrimaryKey, utcnow


class Channel(enum.StrEnum):
    WIDGET = "widget"
    WHATSAPP = "whatsapp"
    SMS = "sms"
    TELEGRAM = "telegram"


class ConversationStatus(enum.StrEnum):
    BOT = "bot"  # the agent answers
    HANDED_OFF = "handed_off"  # waiting for, or with, a person
    RESOLVED = "resolved"


class Resolution(enum.StrEnum):
    ANSWERED = "answered"  # ended while the agent was answering
    RESOLVED_BY_PERSON = "resolved_by_person"


class Author(enum.StrEnum):
    CUSTOMER = "customer"
    ASSISTANT = "assistant"
    PERSON = "person"
    NOTICE = "notice"  # a line from the product itself ("a person will reply here")


class ReplyState(enum.StrEnum):
    """Where a customer message stands: PENDING until the agent's reply (or hand-off) is
    stored; SKIPPED when a person has the conversation or the message needs none."""

    PENDING = "pending"
    ANSWERED = "answered"
    SKIPPED = "skipped"


class ConsentKind(enum.StrEnum):
    ACCEPTED = "accepted"
    SHOWN = "shown"


class Contact(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """A customer's identity on one channel of one workspace. The identifier (a widget visitor
    id or the business's own user id, a phone number, a Telegram chat id) is sealed under the
    contact's key and found by its blind index."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("workspace_id", "channel", "identifier_index"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    identifier: Mapped[str] = mapped_column(EncryptedText(contact_attribute="id"))
    identifier_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    display_name: Mapped[str | None] = mapped_column(EncryptedText(contact_attribute="id"))
    # True when the business's server vouched for the identifier (identity verification).
    verified: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WidgetSession(UUIDPrimaryKey, CreatedAt, Base):
    """One visitor's session with one agent's widget, opened from one origin. The visitor's
    tokens name it; only the current ``generation`` of session token works, and a bootstrap
    token is exchanged once (``exchanged_at``)."""

    __tablename__ = "widget_session"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(255))
    # Set at once for a verified user; for an anonymous visitor at consent or first message.
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact.id", ondelete="CASCADE"), index=True
    )
    verified: Mapped[bool] = mapped_column(default=False)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    exchanged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # The session's absolute end: refreshing rotates the token but never extends this.
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Conversation(UUIDPrimaryKey, Base):
    """A conversation between a contact and an agent on one channel, with the metadata the
    business reports on. ``last_seq`` numbers the messages (incremented atomically)."""

    __tablename__ = "conversation"
    __table_args__ = (Index("ix_conversation_inbox", "workspace_id", "status", "last_message_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The widget session an anonymous visitor's conversation belongs to (they see no other).
    widget_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("widget_session.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.BOT.value)
    resolution: Mapped[str | None] = mapped_column(String(24), default=None)
    handoff_reason: Mapped[str | None] = mapped_column(String(24), default=None)
    assigned_membership_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("membership.id", ondelete="SET NULL"), index=True, default=None
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handed_off_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def duration(self) -> dt.timedelta:
        """From the first message to the end (or to the latest message while it is open)."""
        return (self.ended_at or self.last_message_at) - self.started_at


class Message(EncryptedModel, UUIDPrimaryKey, Base):
    """One message of a conversation, in order (``seq``). A customer message from a channel
    that names it carries ``client_message_id`` (the widget's own id, a provider's message
    id), unique in its conversation: a resend is the same message, stored once."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "client_message_id"),
        Index("ix_message_reply_pending", "reply_state"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    author: Mapped[str] = mapped_column(String(16))
    author_membership_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("membership.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(EncryptedText(contact_attribute="contact_id"))
    # [{"title": ..., "source": ...}] of the passages an assistant reply cites.
    citations: Mapped[list[dict[str, Any]] | None] = mapped_column(
        EncryptedJSON(contact_attribute="contact_id")
    )
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    client_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    reply_state: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Attachment(EncryptedModel, UUIDPrimaryKey, CreatedAt, Base):
    """A file a customer sent, in the encrypted file store (``file_id``)."""

    __tablename__ = "attachment"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), unique=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    byte_size: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(EncryptedText(contact_attribute="contact_id"))


class ConsentRecord(UUIDPrimaryKey, Base):
    """That a contact accepted (or, by workspace policy, was shown) an agent's consent notice:
    which version of the agent's configuration held the notice, its digest, when, where."""

    __tablename__ = "consent_record"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    widget_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("widget_session.id", ondelete="SET NULL"), index=True, default=None
    )
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[int] = mapped_column(Integer)
    # SHA-256 of the notice text as shown: proves which words were agreed to.
    notice_digest: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WidgetRefusal(UUIDPrimaryKey, Base):
    """Widget requests refused for their origin, counted per agent and day (shown on the
    agent's page), with the last origin seen (cut to 255 characters)."""

    __tablename__ = "widget_refusal"
    __table_args__ = (UniqueConstraint("agent_id", "day"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("agent.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column()
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_origin: Mapped[str] = mapped_column(String(255), default="")
    last_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
