"""worker: run background jobs in the foreground, on this machine, until told to stop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from hushdesk.bootstrap import assistant_services, build_keyring, encrypted_sessions
from hushdesk.cli.options import DataDir, load_settings, refuse_unsafe, start_database
from hushdesk.infra.events import build_event_bus
from hushdesk.infra.jobs.queue import JobQueue
from hushdesk.infra.jobs.runner import run_foreground
from hushdesk.settings import Settings
from hushdesk.tasks import build_job_queue


def register(app: typer.Typer) -> None:
    app.command()(worker)


def worker(
    data_dir: DataDir = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            max=64,
            help="Jobs run at once by this process (env HUSHDESK_JOB_WORKERS; default 2).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run background jobs until SIGTERM (running jobs finish first) or SIGINT.

    Start as many as you like, on as many machines, against one PostgreSQL database; set
    HUSHDESK_RUN_JOBS_IN_PROCESS=false for the web servers then. On start, the worker queues
    again whatever the database says is unfinished, including jobs of a worker that was killed.
    """
    settings = load_settings(data_dir=data_dir, job_workers=concurrency)
    run_worker(settings)


def run_worker(settings: Settings, *, add_handlers: Callable[[JobQueue], None] | None = None) -> None:
    """What ``hushdesk worker`` does once settings are read. ``add_handlers`` registers extra
    handlers after the application's (the crash tests add a slow one)."""
    refuse_unsafe(settings)
    # PostgreSQL is migrated once, by `hushdesk migrate`, never by each worker.
    engine = start_database(settings)
    keyring = build_keyring(settings)
    events = build_event_bus(settings.event_bus_url.get_secret_value())
    try:
        queue = build_job_queue(
            settings,
            engine=engine,
            sessions=encrypted_sessions(engine, keyring),
            assistant=assistant_services(settings),
            events=events,
        )
        if add_handlers is not None:
            add_handlers(queue)
        typer.echo(f"Hushdesk worker running {settings.job_workers} job(s) at a time")
        run_foreground(queue, workers=settings.job_workers)
    finally:
        events.close()
        keyring.contact_keys.dispose()
        engine.dispose()
