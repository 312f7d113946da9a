"""Alembic environment: runs migrations on the engine the caller passes in
(``config.attributes["engine"]``), or on ``sqlalchemy.url`` when run by the alembic CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from hushdesk.infra.db.engine import create_db_engine
from hushdesk.schema import metadata

# A fixed key for pg_advisory_xact_lock: one migrator at a time per database.
_MIGRATION_LOCK_KEY = 0x4855_5348_4445_534B  # "HUSHDESK"


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no engine given and no sqlalchemy.url configured")
    return create_db_engine(url)


def run_migrations() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations()
