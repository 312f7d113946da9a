"""Team and access: workspace security policy, session second-factor state, agents and their
assignments, invitations, password reset links, API keys and passkeys.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_and_created() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspace.id"],
        name=op.f(f"fk_{table}_workspace_id_workspace"),
        ondelete="CASCADE",
    )


def _user_fk(table: str, column: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["user_account.id"], name=op.f(f"fk_{table}_{column}_user_account"), ondelete=ondelete
    )


def _index(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mfa_required", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("session_idle_minutes", sa.Integer(), server_default="30", nullable=False)
        )
        batch_op.add_column(
            sa.Column("session_absolute_minutes", sa.Integer(), server_default="720", nullable=False)
        )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("awaiting_second_factor", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("second_factor_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("user_agent", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))

    op.create_table(
        "agent",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        *_id_and_created(),
        _workspace_fk("agent"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent")),
    )
    _index("agent", "workspace_id")

    op.create_table(
        "agent_assignment",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("membership_id", sa.Uuid(), nullable=False),
        *_id_and_created(),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_agent_assignment_agent_id_agent"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["membership_id"],
            ["membership.id"],
            name=op.f("fk_agent_assignment_membership_id_membership"),
            ondelete="CASCADE",
        ),
        _workspace_fk("agent_assignment"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_assignment")),
        sa.UniqueConstraint(
            "agent_id", "membership_id", name=op.f("uq_agent_assignment_agent_id_membership_id")
        ),
    )
    _index("agent_assignment", "agent_id", "membership_id", "workspace_id")

    op.create_table(
        "invitation",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("agent_ids", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_id_and_created(),
        _user_fk("invitation", "invited_by_id", "SET NULL"),
        _workspace_fk("invitation"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitation_token_hash")),
    )
    _index("invitation", "workspace_id")

    op.create_table(
        "password_reset",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_id_and_created(),
        _user_fk("password_reset", "issued_by_id", "SET NULL"),
        _user_fk("password_reset", "user_id", "CASCADE"),
        _workspace_fk("password_reset"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_token_hash")),
    )
    _index("password_reset", "user_id", "workspace_id")

    op.create_table(
        "api_key",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        *_id_and_created(),
        _user_fk("api_key", "created_by_id", "SET NULL"),
        _workspace_fk("api_key"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    _index("api_key", "created_by_id", "workspace_id")

    op.create_table(
        "passkey_credential",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credential_lookup", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        *_id_and_created(),
        _user_fk("passkey_credential", "user_id", "CASCADE"),
        _workspace_fk("passkey_credential"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey_credential")),
        sa.UniqueConstraint("credential_lookup", name=op.f("uq_passkey_credential_credential_lookup")),
    )
    _index("passkey_credential", "user_id", "workspace_id")

    op.create_table(
        "passkey_challenge",
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        *_id_and_created(),
        _user_fk("passkey_challenge", "user_id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey_challenge")),
    )
    _index("passkey_challenge", "user_id")


def downgrade() -> None:
    for table in (
        "passkey_challenge",
        "passkey_credential",
        "api_key",
        "password_reset",
        "invitation",
        "agent_assignment",
        "agent",
    ):
        op.drop_table(table)
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        for column in ("address", "user_agent", "second_factor_at", "awaiting_second_factor"):
            batch_op.drop_column(column)
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        for column in ("session_absolute_minutes", "session_idle_minutes", "mfa_required"):
            batch_op.drop_column(column)
