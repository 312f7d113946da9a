"""Contacts, widget sessions, conversations, messages, attachments and consent records; each
agent's publishable widget key and identity-verification secret; the workspace's consent mode.

Existing agents get a fresh publishable key.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("identifier", sa.LargeBinary(), nullable=False),
        sa.Column("identifier_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("display_name", sa.LargeBinary(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_contact_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint(
            "workspace_id",
            "channel",
            "identifier_index",
            name=op.f("uq_contact_workspace_id_channel_identifier_index"),
        ),
    )
    op.create_index(op.f("ix_contact_workspace_id"), "contact", ["workspace_id"], unique=False)
    op.create_table(
        "widget_refusal",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_origin", sa.String(length=255), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_widget_refusal_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_widget_refusal_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_refusal")),
        sa.UniqueConstraint("agent_id", "day", name=op.f("uq_widget_refusal_agent_id_day")),
    )
    op.create_index(op.f("ix_widget_refusal_workspace_id"), "widget_refusal", ["workspace_id"], unique=False)
    op.create_table(
        "widget_session",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("exchanged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_widget_session_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_widget_session_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_widget_session_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_session")),
    )
    op.create_index(op.f("ix_widget_session_agent_id"), "widget_session", ["agent_id"], unique=False)
    op.create_index(op.f("ix_widget_session_contact_id"), "widget_session", ["contact_id"], unique=False)
    op.create_index(op.f("ix_widget_session_expires_at"), "widget_session", ["expires_at"], unique=False)
    op.create_index(op.f("ix_widget_session_workspace_id"), "widget_session", ["workspace_id"], unique=False)
    op.create_table(
        "consent_record",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("widget_session_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("notice_version", sa.Integer(), nullable=False),
        sa.Column("notice_digest", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_consent_record_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_consent_record_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["widget_session_id"],
            ["widget_session.id"],
            name=op.f("fk_consent_record_widget_session_id_widget_session"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_consent_record_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
    )
    op.create_index(op.f("ix_consent_record_agent_id"), "consent_record", ["agent_id"], unique=False)
    op.create_index(op.f("ix_consent_record_contact_id"), "consent_record", ["contact_id"], unique=False)
    op.create_index(
        op.f("ix_consent_record_widget_session_id"), "consent_record", ["widget_session_id"], unique=False
    )
    op.create_index(op.f("ix_consent_record_workspace_id"), "consent_record", ["workspace_id"], unique=False)
    op.create_table(
        "conversation",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("widget_session_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=24), nullable=True),
        sa.Column("handoff_reason", sa.String(length=24), nullable=True),
        sa.Column("assigned_membership_id", sa.Uuid(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handed_off_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_conversation_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["assigned_membership_id"],
            ["membership.id"],
            name=op.f("fk_conversation_assigned_membership_id_membership"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_conversation_contact_id_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["widget_session_id"],
            ["widget_session.id"],
            name=op.f("fk_conversation_widget_session_id_widget_session"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_conversation_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
    )
    op.create_index(op.f("ix_conversation_agent_id"), "conversation", ["agent_id"], unique=False)
    op.create_index(
        op.f("ix_conversation_assigned_membership_id"),
        "conversation",
        ["assigned_membership_id"],
        unique=False,
    )
    op.create_index(op.f("ix_conversation_contact_id"), "conversation", ["contact_id"], unique=False)
    op.create_index(
        "ix_conversation_inbox", "conversation", ["workspace_id", "status", "last_message_at"], unique=False
    )
    op.create_index(
        op.f("ix_conversation_widget_session_id"), "conversation", ["widget_session_id"], unique=False
    )
    op.create_index(op.f("ix_conversation_workspace_id"), "conversation", ["workspace_id"], unique=False)
    op.create_table(
        "message",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("author_membership_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("citations", sa.LargeBinary(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("client_message_id", sa.String(length=64), nullable=True),
        sa.Column("reply_state", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_membership_id"],
            ["membership.id"],
            name=op.f("fk_message_author_membership_id_membership"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"], name=op.f("fk_message_contact_id_contact"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_message_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_message_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint(
            "conversation_id", "client_message_id", name=op.f("uq_message_conversation_id_client_message_id")
        ),
        sa.UniqueConstraint("conversation_id", "seq", name=op.f("uq_message_conversation_id_seq")),
    )
    op.create_index(op.f("ix_message_contact_id"), "message", ["contact_id"], unique=False)
    op.create_index(op.f("ix_message_conversation_id"), "message", ["conversation_id"], unique=False)
    op.create_index("ix_message_reply_pending", "message", ["reply_state"], unique=False)
    op.create_index(op.f("ix_message_workspace_id"), "message", ["workspace_id"], unique=False)
    op.create_table(
        "attachment",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"], name=op.f("fk_attachment_contact_id_contact"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_attachment_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_attachment_message_id_message"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_attachment_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
        sa.UniqueConstraint("message_id", name=op.f("uq_attachment_message_id")),
    )
    op.create_index(op.f("ix_attachment_contact_id"), "attachment", ["contact_id"], unique=False)
    op.create_index(op.f("ix_attachment_conversation_id"), "attachment", ["conversation_id"], unique=False)
    op.create_index(op.f("ix_attachment_workspace_id"), "attachment", ["workspace_id"], unique=False)
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consent_mode", sa.String(length=16), server_default="accept", nullable=False)
        )
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("widget_key", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("identity_secret", sa.LargeBinary(), nullable=True))
    _give_existing_agents_widget_keys()
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.alter_column("widget_key", existing_type=sa.String(length=40), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_agent_widget_key"), ["widget_key"])


def _give_existing_agents_widget_keys() -> None:
    """A publishable key per existing agent, in the application's format (written out here so
    that this migration keeps meaning what it meant when it was written)."""
    bind = op.get_bind()
    agent = sa.table("agent", sa.column("id", sa.Uuid()), sa.column("widget_key", sa.String()))
    for (agent_id,) in bind.execute(sa.select(agent.c.id)).all():
        key = "hd_pk_" + base64.b32encode(secrets.token_bytes(20)).decode("ascii")[:26].lower()
        bind.execute(agent.update().where(agent.c.id == agent_id).values(widget_key=key))


def downgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_agent_widget_key"), type_="unique")
        batch_op.drop_column("identity_secret")
        batch_op.drop_column("widget_key")
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("consent_mode")
    for table in (
        "attachment",
        "message",
        "conversation",
        "consent_record",
        "widget_session",
        "widget_refusal",
        "contact",
    ):
        op.drop_table(table)
