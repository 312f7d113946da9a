"""A worker killed with SIGKILL in the middle of a job: after a restart the work completes,
exactly once, on the embedded default (SQLite) and on PostgreSQL.

Real processes run the code path of ``hushdesk worker`` (``run_worker``) with one extra, slow
handler (``slow_worker.py``) that writes its effect and then waits, inside the open transaction,
for a gate file. The first worker is killed while it waits; the second finds the job through
the startup sweep once the 2-second lease has run out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import Engine, func, select, text

from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.infra.jobs.models import WorkItem
from hushdesk.infra.jobs.queue import enqueue_work
from hushdesk.tasks import build_job_queue
from tests.conftest import make_settings
from tests.jobs.slow_worker import EFFECT_TABLE, SLOW_KIND, add_slow_handler

REPO_ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2
WAIT_SECONDS = 60


class Workers:
    """Starts worker processes and makes sure none outlives the test."""

    def __init__(self, tmp_path: Path, engine: Engine) -> None:
        self.tmp_path = tmp_path
        self.gate = tmp_path / "gate"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log_files: list[BinaryIO] = []
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("HUSHDESK_")}
        self.env |= {
            "HUSHDESK_DATA_DIR": str(tmp_path / "var"),
            "HUSHDESK_KEYS_DIR": str(tmp_path / "keys"),
            "HUSHDESK_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "HUSHDESK_JOB_WORKERS": "1",
            "JOBS_TEST_GATE": str(self.gate),
        }
        if engine.dialect.name == "postgresql":
            self.env["HUSHDESK_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
        # On SQLite no URL is set: the worker uses the embedded default, the data folder's file.

    def start(self) -> subprocess.Popen[bytes]:
        number = len(self.processes) + 1
        stdout = (self.tmp_path / f"worker-{number}.out").open("wb")
        stderr = (self.tmp_path / f"worker-{number}.err").open("wb")
        self.log_files += [stdout, stderr]
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.jobs.slow_worker"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=stdout,
            stderr=stderr,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:] for path in sorted(self.tmp_path.glob("worker-*"))
        )

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for log_file in self.log_files:
            log_file.close()


@pytest.fixture
def workers(tmp_path: Path, engine: Engine) -> Iterator[Workers]:
    with engine.begin() as connection:
        connection.execute(
            text(f"CREATE TABLE {EFFECT_TABLE} (work_item_id VARCHAR(36) NOT NULL, attempt INTEGER)")
        )
    running = Workers(tmp_path, engine)
    try:
        yield running
    finally:
        running.kill_all()
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {EFFECT_TABLE}"))


def _wait_for(condition: Callable[[], bool], what: str, workers: Workers) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker logs:\n{workers.logs()}")
        if any(process.poll() is not None for process in workers.processes[-1:]):
            pytest.fail(f"the worker exited while waiting for {what}; logs:\n{workers.logs()}")
        time.sleep(0.05)


def _effects(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT work_item_id, attempt FROM {EFFECT_TABLE}"))
        return [(row[0], row[1]) for row in rows]


@pytest.mark.slow
def test_a_job_killed_mid_transaction_completes_exactly_once_after_restart(
    engine: Engine, tmp_path: Path, workers: Workers
) -> None:
    sessions = make_sessionmaker(engine)
    queue = build_job_queue(make_settings(tmp_path), engine=engine)
    add_slow_handler(queue)
    with unit_of_work(sessions) as session:
        item_id = enqueue_work(session, queue=queue, kind=SLOW_KIND, idempotency_key="crash-1", payload={})
    queue.close()

    first = workers.start()
    _wait_for((tmp_path / "inside-attempt-1").exists, "the first attempt to write its effect", workers)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL

    with unit_of_work(sessions) as session:
        item = session.get(WorkItem, item_id)
        assert item is not None
        assert (item.state, item.attempts) == ("running", 1)
        assert item.claimed_by is not None
        assert item.claimed_by.endswith(f":{first.pid}")
    assert _effects(engine) == [], "the killed attempt's effect was never committed"

    workers.gate.touch()
    second = workers.start()

    def done() -> bool:
        with unit_of_work(sessions) as session:
            return session.scalar(select(WorkItem.state).where(WorkItem.id == item_id)) == "done"

    _wait_for(done, "the restarted worker to finish the job", workers)
    with unit_of_work(sessions) as session:
        item = session.get(WorkItem, item_id)
        assert item is not None
        assert (item.state, item.attempts, item.completed_at is not None) == ("done", 2, True)
        assert item.claimed_by is not None
        assert item.claimed_by.endswith(f":{second.pid}")
        assert (
            session.scalar(select(func.count()).select_from(WorkItem).where(WorkItem.kind == SLOW_KIND)) == 1
        )
    assert _effects(engine) == [(str(item_id), 2)]

    # SIGTERM is the graceful stop: the worker finishes and exits cleanly.
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=WAIT_SECONDS) == 0, workers.logs()
    assert _effects(engine) == [(str(item_id), 2)]
