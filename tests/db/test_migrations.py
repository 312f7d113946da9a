"""The migrations and the models describe the same schema, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from hushdesk.infra.db.migrate import current_revision, head_revision, is_up_to_date, upgrade_to_head
from hushdesk.schema import metadata


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # Tables the queue engine creates for itself are not ours to migrate.
    return not (type_ == "table" and name is not None and name.startswith("huey"))


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _include}
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_database_is_at_head_after_upgrade(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    assert is_up_to_date(engine)


def test_upgrade_is_idempotent(engine: Engine) -> None:
    before = set(inspect(engine).get_table_names())
    upgrade_to_head(engine)
    assert set(inspect(engine).get_table_names()) == before
