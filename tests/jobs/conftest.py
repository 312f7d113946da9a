"""Fixtures for the job tests: a queue on each engine, with a clock the test moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.infra.db.uow import make_sessionmaker
from hushdesk.infra.jobs.backend import create_job_queue
from hushdesk.infra.jobs.queue import JobQueue

LEASE = dt.timedelta(seconds=30)


class FakeClock:
    """A UTC clock that moves only when told to."""

    def __init__(self) -> None:
        self.current = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.current += delta
        return self.current


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def queue(engine: Engine, tmp_path: Path, clock: FakeClock) -> Iterator[JobQueue]:
    job_queue = create_job_queue(
        engine=engine, sqlite_queue_file=tmp_path / "var" / "jobs.sqlite3", lease=LEASE, clock=clock
    )
    yield job_queue
    job_queue.close()


def queued_messages(queue: JobQueue) -> int:
    """Messages waiting now plus those scheduled for later."""
    return int(queue.huey.pending_count()) + int(queue.huey.scheduled_count())
