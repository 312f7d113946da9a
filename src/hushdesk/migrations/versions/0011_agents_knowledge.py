"""Agents' configuration and its versions; knowledge documents, chunks and URL imports.

Existing agents get a slug made from their name (unique in their workspace) and the default
configuration: the offline extractive responder, lexical retrieval, hand-off on request.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_config_version",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("changed_fields", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_config_version_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_agent_config_version_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_config_version")),
        sa.UniqueConstraint("agent_id", "version", name=op.f("uq_agent_config_version_agent_id_version")),
    )
    with op.batch_alter_table("agent_config_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_config_version_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agent_config_version_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "knowledge_document",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=False),
        sa.Column("title", sa.LargeBinary(), nullable=False),
        sa.Column("links", sa.LargeBinary(), nullable=False),
        sa.Column("file_id", sa.LargeBinary(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_knowledge_document_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_knowledge_document_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_document")),
    )
    with op.batch_alter_table("knowledge_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_document_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_knowledge_document_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "knowledge_import",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.LargeBinary(), nullable=False),
        sa.Column("sitemap", sa.Boolean(), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pages_total", sa.Integer(), nullable=False),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("pages_failed", sa.Integer(), nullable=False),
        sa.Column("failures", sa.LargeBinary(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_knowledge_import_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_knowledge_import_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_knowledge_import_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_import")),
    )
    with op.batch_alter_table("knowledge_import", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_import_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_knowledge_import_created_by_id"), ["created_by_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_knowledge_import_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "knowledge_chunk",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading", sa.LargeBinary(), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_knowledge_chunk_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["knowledge_document.id"],
            name=op.f("fk_knowledge_chunk_document_id_knowledge_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_knowledge_chunk_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_chunk")),
    )
    with op.batch_alter_table("knowledge_chunk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_chunk_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_chunk_document_id"), ["document_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_chunk_workspace_id"), ["workspace_id"], unique=False)

    # Existing rows take the defaults from the server; the application always writes them.
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("system_prompt", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("greeting", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("consent_notice", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("tone", sa.String(length=16), nullable=False, server_default="friendly")
        )
        batch_op.add_column(sa.Column("temperature", sa.Float(), nullable=False, server_default="0.2"))
        batch_op.add_column(
            sa.Column("provider_kind", sa.String(length=32), nullable=False, server_default="extractive")
        )
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("provider_base_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("provider_api_version", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("provider_data_region", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("embedding_model", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("credential_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("facts_acknowledged", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("retrieval_mode", sa.String(length=16), nullable=False, server_default="lexical")
        )
        batch_op.add_column(
            sa.Column("handoff_on_request", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("handoff_min_score", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("handoff_after_failures", sa.Integer(), nullable=False, server_default="2")
        )
        batch_op.add_column(sa.Column("allowed_domains", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("config_version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("knowledge_revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.current_timestamp(),
            )
        )
    _give_existing_agents_slugs()
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=64), nullable=False)
        for column in (
            "tone",
            "temperature",
            "provider_kind",
            "model",
            "retrieval_mode",
            "handoff_on_request",
            "handoff_min_score",
            "handoff_after_failures",
            "allowed_domains",
            "config_version",
            "knowledge_revision",
            "updated_at",
        ):
            batch_op.alter_column(column, server_default=None)
        batch_op.create_index(batch_op.f("ix_agent_credential_id"), ["credential_id"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_agent_workspace_id_slug"), ["workspace_id", "slug"])
        batch_op.create_foreign_key(
            batch_op.f("fk_agent_credential_id_credential"),
            "credential",
            ["credential_id"],
            ["id"],
            ondelete="SET NULL",
        )


def _give_existing_agents_slugs() -> None:
    """A slug per existing agent from its name: lowercase ASCII letters, digits and dashes,
    made unique in its workspace with a number. (The rule is written out here rather than
    imported, so this migration keeps meaning what it meant when it was written.)"""
    bind = op.get_bind()
    agent = sa.table(
        "agent",
        sa.column("id", sa.Uuid()),
        sa.column("workspace_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("slug", sa.String()),
    )
    taken: dict[object, set[str]] = {}
    rows = bind.execute(sa.select(agent.c.id, agent.c.workspace_id, agent.c.name).order_by(agent.c.id)).all()
    for row in rows:
        base = (
            re.sub(
                r"[^a-z0-9]+",
                "-",
                unicodedata.normalize("NFKD", row.name).encode("ascii", "ignore").decode().lower(),
            ).strip("-")[:48]
            or "agent"
        )
        used = taken.setdefault(row.workspace_id, set())
        slug, number = base, 2
        while slug in used:
            slug, number = f"{base}-{number}", number + 1
        used.add(slug)
        bind.execute(sa.update(agent).where(agent.c.id == row.id).values(slug=slug))


def downgrade() -> None:
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_agent_credential_id_credential"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_agent_workspace_id_slug"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_agent_credential_id"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("knowledge_revision")
        batch_op.drop_column("config_version")
        batch_op.drop_column("allowed_domains")
        batch_op.drop_column("handoff_after_failures")
        batch_op.drop_column("handoff_min_score")
        batch_op.drop_column("handoff_on_request")
        batch_op.drop_column("retrieval_mode")
        batch_op.drop_column("facts_acknowledged")
        batch_op.drop_column("credential_id")
        batch_op.drop_column("embedding_model")
        batch_op.drop_column("provider_data_region")
        batch_op.drop_column("provider_api_version")
        batch_op.drop_column("provider_base_url")
        batch_op.drop_column("model")
        batch_op.drop_column("provider_kind")
        batch_op.drop_column("temperature")
        batch_op.drop_column("tone")
        batch_op.drop_column("consent_notice")
        batch_op.drop_column("greeting")
        batch_op.drop_column("system_prompt")
        batch_op.drop_column("slug")

    with op.batch_alter_table("knowledge_chunk", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_chunk_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_chunk_document_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_chunk_agent_id"))

    op.drop_table("knowledge_chunk")
    with op.batch_alter_table("knowledge_import", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_import_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_import_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_import_agent_id"))

    op.drop_table("knowledge_import")
    with op.batch_alter_table("knowledge_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_document_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_document_agent_id"))

    op.drop_table("knowledge_document")
    with op.batch_alter_table("agent_config_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_config_version_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_agent_config_version_agent_id"))

    op.drop_table("agent_config_version")
