"""Shared fixtures: real databases on both engines, settings, the app and its client.

PostgreSQL tests use the server at 127.0.0.1:5432 (trust auth, user postgres): one database
per test session, created here and dropped at the end, with every table emptied after each
test. When the server is unreachable they are skipped with the reason, except under CI=true,
where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from hushdesk.app import create_app
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.migrate import upgrade_to_head
from hushdesk.privacy.pii import Detector, NameLexicon
from hushdesk.schema import metadata
from hushdesk.settings import Settings

POSTGRES_ADMIN_DSN = os.environ.get("HUSHDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HUSHDESK_TEST_REDIS", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_unreachable_reason() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_DSN} is unreachable: {str(exc).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session; dropped afterwards."""
    reason = _postgres_unreachable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    name = f"hushdesk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (database 15), skipped with the reason when it is down, except under
    CI=true, where its tests must run."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: Redis tests must run)")
        pytest.skip(reason)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url, pool_size=5)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


def empty_all_tables(engine: Engine) -> None:
    names = [table.name for table in metadata.sorted_tables]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            extra = [
                row[0]
                for row in connection.execute(
                    text(
                        "SELECT tablename FROM pg_tables"
                        " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                )
                if row[0] not in names
            ]
            quoted = ", ".join(f'"{name}"' for name in [*names, *extra])
            connection.execute(text(f"TRUNCATE {quoted} CASCADE"))
        else:
            for name in reversed(names):
                connection.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database, on each engine in turn."""
    if request.param == "sqlite":
        sqlite_engine = create_db_engine(f"sqlite:///{tmp_path / 'var' / 'hushdesk.sqlite3'}")
        upgrade_to_head(sqlite_engine)
        yield sqlite_engine
        sqlite_engine.dispose()
        return
    pg_engine: Engine = request.getfixturevalue("postgres_engine")
    try:
        yield pg_engine
    finally:
        empty_all_tables(pg_engine)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database (for tests whose subject is not the engine)."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'var' / 'hushdesk.sqlite3'}")
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "var",
        "keys_dir": tmp_path / "keys",
        "allowed_hosts": ["testserver", "localhost"],
        "run_jobs_in_process": False,
        "cache_dir": NAME_CACHE,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def app(settings: Settings, sqlite_engine: Engine) -> FastAPI:
    return create_app(settings, engine=sqlite_engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


# The PII engine's name lists are extracted once from the installed packages (about a minute) into
# a git-ignored cache in the checkout, shared by every test session on this machine.
NAME_CACHE = Path(__file__).resolve().parent.parent / ".cache"


@pytest.fixture(scope="session")
def name_lexicon() -> NameLexicon:
    return NameLexicon.load(NAME_CACHE)


@pytest.fixture(scope="session")
def detector(name_lexicon: NameLexicon) -> Detector:
    return Detector(names=name_lexicon)
