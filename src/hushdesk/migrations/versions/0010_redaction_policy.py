"""Redaction policy: one row per workspace (mode, labels turned off, its own patterns).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "redaction_policy",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("disabled_labels", sa.JSON(), nullable=False),
        sa.Column("custom_patterns", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_redaction_policy_updated_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_redaction_policy_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redaction_policy")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_redaction_policy_workspace_id")),
    )
    with op.batch_alter_table("redaction_policy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_redaction_policy_updated_by_id"), ["updated_by_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("redaction_policy")
