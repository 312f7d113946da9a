"""work_item, and the job queue's tables on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 10:00:00

On PostgreSQL, huey's ``PostgresStorage`` keeps its messages in ``huey_*`` tables of the same
database. They are created here (the DDL of huey 3.5's ``PostgresStorage`` with the prefix
``huey``), under the migration lock, rather than by each worker at start: workers starting
together would race on ``CREATE TABLE IF NOT EXISTS``, and the runtime role needs no DDL rights.
They are not our models; the drift test leaves tables named ``huey*`` out. On SQLite the queue
lives in its own file (``jobs.sqlite3``), which huey creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HUEY_POSTGRES_DDL = (
    "create table if not exists huey_kv (queue text not null, key text not null, "
    "value bytea not null, primary key(queue, key))",
    "create table if not exists huey_schedule (id bigserial primary key, queue text not null, "
    "data bytea not null, timestamp double precision not null)",
    "create index if not exists huey_schedule_queue_timestamp on huey_schedule (queue, timestamp)",
    "create table if not exists huey_task (id bigserial primary key, queue text not null, "
    "data bytea not null, priority double precision not null default 0.0)",
    "create index if not exists huey_task_queue_priority_id on huey_task (queue, priority desc, id)",
    "create table if not exists huey_counter (queue text not null, key text not null, "
    "value bigint not null default 0, primary key(queue, key))",
)
HUEY_POSTGRES_TABLES = ("huey_counter", "huey_task", "huey_schedule", "huey_kv")


def upgrade() -> None:
    op.create_table(
        "work_item",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed')", name=op.f("ck_work_item_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_item")),
        sa.UniqueConstraint("kind", "idempotency_key", name=op.f("uq_work_item_kind_idempotency_key")),
    )
    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.create_index("ix_work_item_state_available_at", ["state", "available_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_item_workspace_id"), ["workspace_id"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for statement in HUEY_POSTGRES_DDL:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in HUEY_POSTGRES_TABLES:
            op.execute(f"drop table if exists {table}")

    with op.batch_alter_table("work_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_item_workspace_id"))
        batch_op.drop_index("ix_work_item_state_available_at")

    op.drop_table("work_item")
