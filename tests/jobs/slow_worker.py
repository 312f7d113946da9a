"""``hushdesk worker`` plus one slow handler, run as a separate process by the crash tests.

The handler writes its effect row, then waits inside the still-open transaction until the gate
file exists, so a SIGKILL lands after the effect was written but before it was committed.
Environment: the usual ``HUSHDESK_*`` settings, and ``JOBS_TEST_GATE`` (the gate file's path).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import text

from hushdesk.cli.worker import run_worker
from hushdesk.infra.jobs.handlers import Job
from hushdesk.infra.jobs.queue import JobQueue
from hushdesk.settings import Settings

SLOW_KIND = "test.slow"
EFFECT_TABLE = "test_job_effect"
GATE_TIMEOUT_SECONDS = 120


def write_effect_then_wait_for_gate(job: Job) -> None:
    gate = Path(os.environ["JOBS_TEST_GATE"])
    inside = gate.with_name(f"inside-attempt-{job.claim.attempt}")
    with job.completing() as session:
        session.execute(
            text(f"INSERT INTO {EFFECT_TABLE} (work_item_id, attempt) VALUES (:item, :attempt)"),
            {"item": str(job.claim.item_id), "attempt": job.claim.attempt},
        )
        inside.touch()
        deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never opened the gate")
            time.sleep(0.05)


def add_slow_handler(queue: JobQueue) -> None:
    queue.register_handler(SLOW_KIND, write_effect_then_wait_for_gate)


if __name__ == "__main__":
    run_worker(Settings(_env_file=None), add_handlers=add_slow_handler)
