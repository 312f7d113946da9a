"""The jobs in the server process (embedded default), the readiness check and ``hushdesk worker``."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from hushdesk.app import create_app
from hushdesk.cli import app as cli_app
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.tasks import HOUSEKEEPING
from tests.conftest import POSTGRES_ADMIN_DSN, make_settings


def _job_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "hushdesk-jobs"]


def test_the_server_runs_jobs_in_process_and_stops_them_on_shutdown(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, run_jobs_in_process=True, job_workers=1)
    app = create_app(settings, engine=sqlite_engine)
    sessions = make_sessionmaker(sqlite_engine)
    with TestClient(app) as client:
        assert client.get("/readyz").json()["checks"]["jobs"] == "ok"
        deadline = time.monotonic() + 30
        state = None
        while state != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
            with unit_of_work(sessions) as session:
                state = session.scalar(select(WorkItem.state).where(WorkItem.kind == HOUSEKEEPING))
        assert state == "done", "the in-process worker ran the first housekeeping slot"
        assert _job_threads()
    assert not _job_threads()


def test_the_server_leaves_jobs_to_workers_when_told_to(sqlite_engine: Engine, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, run_jobs_in_process=False), engine=sqlite_engine)
    with TestClient(app):
        assert not _job_threads()


def test_the_worker_command_is_listed_with_its_options() -> None:
    result = CliRunner().invoke(cli_app, ["worker", "--help"])
    assert result.exit_code == 0
    assert "--concurrency" in result.output
    assert "--data-dir" in result.output


def test_the_worker_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    env = {
        "HUSHDESK_ENV": "production",
        "HUSHDESK_DEBUG": "true",
        "HUSHDESK_KEYS_DIR": str(tmp_path / "keys"),
    }
    result = CliRunner().invoke(cli_app, ["worker", "--data-dir", str(tmp_path / "var")], env=env)
    assert result.exit_code == 2
    assert "refusing to start" in result.output
    assert not (tmp_path / "var").exists()


@pytest.mark.postgres
def test_the_worker_does_not_migrate_postgresql(postgres_url: str, tmp_path: Path) -> None:
    name = f"hushdesk_unmigrated_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    try:
        env = {"HUSHDESK_DATABASE_URL": url, "HUSHDESK_KEYS_DIR": str(tmp_path / "keys")}
        result = CliRunner().invoke(cli_app, ["worker", "--data-dir", str(tmp_path / "var")], env=env)
        assert result.exit_code == 2
        assert "hushdesk migrate" in result.output
        with psycopg.connect(url) as connection:
            assert connection.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone() == (0,)
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
