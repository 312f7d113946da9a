"""Opening the database: the embedded default migrates itself; PostgreSQL must be migrated
explicitly, and the server refuses an old schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hushdesk.bootstrap import DatabaseNotMigratedError, open_database, prepare_folders
from hushdesk.infra.db.migrate import is_up_to_date
from tests.conftest import POSTGRES_ADMIN_DSN, make_settings


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    name = f"hushdesk_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_embedded_default_migrates_on_open(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    prepare_folders(settings)
    engine = open_database(settings, migrate=settings.uses_sqlite)
    assert is_up_to_date(engine)
    engine.dispose()


def test_folders_are_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    prepare_folders(settings)
    for folder in (settings.data_dir, settings.keys_dir, settings.uploads_dir):
        assert folder.stat().st_mode & 0o077 == 0


@pytest.mark.postgres
def test_postgres_old_schema_is_refused_until_migrated(tmp_path: Path, empty_postgres_url: str) -> None:
    settings = make_settings(tmp_path, database_url=empty_postgres_url)
    with pytest.raises(DatabaseNotMigratedError, match="hushdesk migrate"):
        open_database(settings, migrate=False)
    engine = open_database(settings, migrate=True)
    engine.dispose()
    engine = open_database(settings, migrate=False)
    assert is_up_to_date(engine)
    engine.dispose()
