"""Running the consumer: in the foreground (``hushdesk worker``) or in threads of the web server
(the embedded default). Both sweep the database for unfinished work before they start taking
messages, and both run the same handlers with huey's thread workers and its scheduler (retries
with a delay, and the minute tick)."""

from __future__ import annotations

import threading
from typing import Any

from huey.consumer import Consumer

from hushdesk.infra.jobs.queue import JobQueue

FOREGROUND_SHUTDOWN_SECONDS = 30.0
EMBEDDED_SHUTDOWN_SECONDS = 10.0


class _HostedConsumer(Consumer):  # type: ignore[misc]  # huey ships no type information
    """A consumer that leaves the process's signals to its host (uvicorn)."""

    def _set_signal_handlers(self) -> None:
        return


def _options(workers: int, shutdown_timeout: float) -> dict[str, Any]:
    return {
        "workers": workers,
        "worker_type": "thread",
        "periodic": True,
        "scheduler_interval": 1,
        # An idle SQLite queue is polled at most once a second per worker (PostgreSQL wakes
        # workers with NOTIFY instead).
        "initial_delay": 0.1,
        "backoff": 1.15,
        "max_delay": 1.0,
        "check_worker_health": True,
        "shutdown_timeout": shutdown_timeout,
        # SIGTERM (systemd, Kubernetes) lets running jobs finish; SIGINT stops at once. A job
        # cut short stays leased and runs again when its lease ends.
        "graceful_signal": "TERM",
    }


def run_foreground(queue: JobQueue, *, workers: int) -> None:
    """Sweep, then consume on this (main) thread until SIGTERM or SIGINT; SIGHUP restarts."""
    queue.sweep(startup=True)
    consumer = Consumer(queue.huey, **_options(workers, FOREGROUND_SHUTDOWN_SECONDS))
    try:
        consumer.run()
    finally:
        queue.close()


class EmbeddedWorker:
    """The consumer in background threads of this process. ``start`` sweeps first; ``stop``
    waits up to ``shutdown_timeout`` seconds for running jobs, then leaves them to their lease.
    Not restartable: make a new one."""

    def __init__(self, queue: JobQueue, *, workers: int, shutdown_timeout: float = EMBEDDED_SHUTDOWN_SECONDS):
        self._queue = queue
        self._consumer = _HostedConsumer(queue.huey, **_options(workers, shutdown_timeout))
        self._shutdown_timeout = shutdown_timeout
        # consumer.run() adds what start() lacks: restarting dead workers, and the exit path.
        self._thread = threading.Thread(target=self._consumer.run, name="hushdesk-jobs", daemon=True)

    def start(self) -> None:
        self._queue.sweep(startup=True)
        self._thread.start()

    def stop(self) -> None:
        self._consumer.stop(graceful=True)
        self._thread.join(self._shutdown_timeout)
        self._queue.close()
