"""The application's background work: which kinds exist, their handlers, their schedules.

``build_job_queue`` is what the web server and ``hushdesk worker`` both call, so the same
handlers run in the server process on the embedded default and in worker processes in
production. Every handler is idempotent (see ``hushdesk.infra.jobs.handlers``).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, delete, or_
from sqlalchemy.orm import Session, registry, sessionmaker

from hushdesk import __version__
from hushdesk.agents.knowledge.imports import KNOWLEDGE_IMPORT, ClientFactory, give_up_import, run_import
from hushdesk.agents.knowledge.originals import reseal_originals
from hushdesk.agents.runtime import AssistantServices
from hushdesk.conversations.models import WidgetSession
from hushdesk.conversations.replies import register_reply_task
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.crypto.reencrypt import (
    DEFAULT_BATCH_SIZE,
    ReencryptionRefusedError,
    data_key_tables,
    reencrypt_workspace,
)
from hushdesk.identity.models import Invitation, PasswordReset, SetupToken, WebSession
from hushdesk.identity.passkey_challenges import PasskeyChallenge
from hushdesk.identity.throttle import purge_stale
from hushdesk.infra.events import EventBus
from hushdesk.infra.http import build_http_client
from hushdesk.infra.jobs.backend import create_job_queue
from hushdesk.infra.jobs.handlers import Handler, Job, PermanentWorkError
from hushdesk.infra.jobs.queue import JobQueue
from hushdesk.infra.jobs.store import LeaseLostError, delete_finished_work, rowcount
from hushdesk.schema import mappers as application_mappers
from hushdesk.settings import Settings, outbound_policy

log = logging.getLogger(__name__)

HOUSEKEEPING = "housekeeping"
REENCRYPT_WORKSPACE = "reencrypt-workspace"
# A URL import is retried a few times (a database or key failure); the site's own failures are
# recorded on the import, not retried.
KNOWLEDGE_IMPORT_ATTEMPTS = 3
HOUSEKEEPING_EVERY = dt.timedelta(hours=1)
# Dead sign-in records are kept a day, so "this link has expired" can still be told apart
# from a mistyped link while someone is trying to use it.
DEAD_RECORD_GRACE = dt.timedelta(days=1)
FINISHED_WORK_KEPT = dt.timedelta(days=30)


def build_job_queue(
    settings: Settings,
    *,
    engine: Engine,
    sessions: sessionmaker[Session] | None = None,
    assistant: AssistantServices | None = None,
    events: EventBus | None = None,
) -> JobQueue:
    """The job queue for ``engine``'s database with every application task registered. On
    SQLite the queue's own file is ``jobs.sqlite3`` in the data folder. Handlers get
    ``sessions`` (the application's, which carry the keyring)."""
    queue = create_job_queue(
        engine=engine,
        sessions=sessions,
        sqlite_queue_file=settings.data_dir / "jobs.sqlite3",
        lease=dt.timedelta(seconds=settings.job_lease_seconds),
    )
    register_tasks(queue, sessions=sessions, settings=settings, assistant=assistant, events=events)
    return queue


def register_tasks(
    queue: JobQueue,
    *,
    sessions: sessionmaker[Session] | None = None,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
    assistant: AssistantServices | None = None,
    events: EventBus | None = None,
) -> None:
    """Register every handler and periodic schedule of the application on ``queue``.

    Work that opens encrypted values (``reencrypt-workspace``) is only registered when
    ``sessions`` carry the keyring: a process without one leaves such items unclaimed for a
    process that has it. ``knowledge-import`` also needs ``settings`` (the uploads folder and
    the outbound policy); ``client_factory`` replaces the outbound client made from them
    (tests). ``conversation-reply`` needs the assistant's services and the event bus that
    carries live updates; a process without them (the CLI) only records such work."""
    queue.register_handler(HOUSEKEEPING, run_housekeeping)
    queue.register_periodic(HOUSEKEEPING, every=HOUSEKEEPING_EVERY)
    if sessions is not None:
        files = EncryptedFileStore(settings.uploads_dir) if settings is not None else None
        queue.register_handler(REENCRYPT_WORKSPACE, reencrypt_workspace_handler(sessions, files=files))
    if sessions is not None and settings is not None:
        queue.register_handler(
            KNOWLEDGE_IMPORT,
            knowledge_import_handler(
                sessions,
                client_factory=client_factory or outbound_client_factory(settings),
                files=EncryptedFileStore(settings.uploads_dir),
            ),
            max_attempts=KNOWLEDGE_IMPORT_ATTEMPTS,
        )
    if sessions is not None and assistant is not None and events is not None:
        register_reply_task(queue, sessions=sessions, services=assistant, bus=events)


def outbound_client_factory(settings: Settings) -> ClientFactory:
    """Makes outbound clients under the installation's policy (the private networks the
    operator allowed), as ``hushdesk.bootstrap.outbound_client`` does for the server."""
    policy = outbound_policy(settings)

    def make_client() -> httpx.Client:
        return build_http_client(policy, version=__version__)

    return make_client


def knowledge_import_handler(
    sessions: sessionmaker[Session], *, client_factory: ClientFactory, files: EncryptedFileStore
) -> Handler:
    """The handler of ``knowledge-import`` items (payload: ``import_id``): run the import (see
    ``hushdesk.agents.knowledge.imports.run_import``), renewing the lease after each page and
    recording the final status in the transaction that marks the item done. When the last
    attempt fails unexpectedly, the import is marked failed before the error propagates."""

    def run_knowledge_import(job: Job) -> None:
        import_id = uuid.UUID(str(job.claim.payload["import_id"]))
        try:
            run_import(
                sessions,
                client_factory,
                files,
                import_id,
                between_pages=job.renew_lease,
                finishing=job.completing,
            )
        except LeaseLostError:
            raise  # another attempt has the item now, and finishes the import
        except Exception:
            if job.claim.attempt >= KNOWLEDGE_IMPORT_ATTEMPTS:
                give_up_import(sessions, import_id)
            raise

    return run_knowledge_import


def reencrypt_workspace_handler(
    sessions: sessionmaker[Session],
    *,
    models: registry | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    files: EncryptedFileStore | None = None,
) -> Handler:
    """The handler of ``reencrypt-workspace`` items (payload: ``workspace_id``, ``key_id``, the
    retiring key): copy the knowledge originals the retiring key seals in ``files`` under the
    active key, re-seal the workspace's values under it, batch by batch, then destroy the
    retiring key in the transaction that marks the item done. ``models`` is the registry whose
    encrypted classes are walked (default: the application's). Idempotent and resumable; a
    key that is not a retiring data key of that workspace fails the item at once."""
    tables_from = models or application_mappers

    def run_reencrypt_workspace(job: Job) -> None:
        workspace_id = uuid.UUID(str(job.claim.payload["workspace_id"]))
        key_id = uuid.UUID(str(job.claim.payload["key_id"]))
        if files is not None:
            reseal_originals(
                sessions, files, workspace_id=workspace_id, key_id=key_id, between=job.renew_lease
            )
        try:
            report = reencrypt_workspace(
                sessions,
                tables=data_key_tables(tables_from),
                workspace_id=workspace_id,
                key_id=key_id,
                batch_size=batch_size,
                between_batches=job.renew_lease,
                finishing=job.completing,
            )
        except ReencryptionRefusedError as exc:
            raise PermanentWorkError(str(exc)) from exc
        log.info(
            "workspace re-encryption done",
            extra={
                "workspace_id": str(workspace_id),
                "key_id": str(key_id),
                "values_resealed": report.values_resealed,
            },
        )

    return run_reencrypt_workspace


@dataclass(frozen=True, slots=True)
class HousekeepingReport:
    setup_tokens: int
    web_sessions: int
    work_items: int
    login_throttles: int
    invitations: int
    password_resets: int
    passkey_challenges: int
    widget_sessions: int = 0


def run_housekeeping(job: Job) -> None:
    """Delete dead sign-in records and old finished work, and mark the item done, in one
    transaction. Idempotent: a second run finds nothing more to delete."""
    with job.completing() as session:
        report = purge_dead_records(session, now=job.now())
    log.info(
        "housekeeping done",
        extra={
            "setup_links_deleted": report.setup_tokens,
            "sign_ins_deleted": report.web_sessions,
            "work_items_deleted": report.work_items,
            "login_throttles_deleted": report.login_throttles,
            "invitations_deleted": report.invitations,
            "password_resets_deleted": report.password_resets,
            "passkey_challenges_deleted": report.passkey_challenges,
            "widget_sessions_deleted": report.widget_sessions,
        },
    )


def purge_dead_records(session: Session, *, now: dt.datetime) -> HousekeepingReport:
    """Delete setup tokens expired, used or revoked more than a day before ``now``; web
    sessions past their expiry, or revoked more than a day ago; invitation and password reset
    links expired, used or revoked more than a day ago; passkey challenges past their expiry;
    widget sessions ended more than a day ago;
    done work items completed more than 30 days ago. Workspace-independent; flushes, never
    commits."""
    cutoff = now - DEAD_RECORD_GRACE
    setup_tokens = session.execute(
        delete(SetupToken)
        .where(
            or_(SetupToken.expires_at < cutoff, SetupToken.used_at < cutoff, SetupToken.revoked_at < cutoff)
        )
        .execution_options(synchronize_session=False)
    )
    web_sessions = session.execute(
        delete(WebSession)
        .where(or_(WebSession.expires_at < now, WebSession.revoked_at < cutoff))
        .execution_options(synchronize_session=False)
    )
    invitations = session.execute(
        delete(Invitation)
        .where(
            or_(
                Invitation.expires_at < cutoff,
                Invitation.accepted_at < cutoff,
                Invitation.revoked_at < cutoff,
            )
        )
        .execution_options(synchronize_session=False)
    )
    password_resets = session.execute(
        delete(PasswordReset)
        .where(
            or_(
                PasswordReset.expires_at < cutoff,
                PasswordReset.used_at < cutoff,
                PasswordReset.revoked_at < cutoff,
            )
        )
        .execution_options(synchronize_session=False)
    )
    passkey_challenges = session.execute(
        delete(PasskeyChallenge)
        .where(PasskeyChallenge.expires_at < now)
        .execution_options(synchronize_session=False)
    )
    # A widget session past its end is dead a day later; its conversation and consent records
    # stay (their link to it is cleared).
    widget_sessions = session.execute(
        delete(WidgetSession)
        .where(WidgetSession.expires_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return HousekeepingReport(
        widget_sessions=rowcount(widget_sessions),
        invitations=rowcount(invitations),
        password_resets=rowcount(password_resets),
        passkey_challenges=rowcount(passkey_challenges),
        setup_tokens=rowcount(setup_tokens),
        web_sessions=rowcount(web_sessions),
        work_items=delete_finished_work(session, completed_before=now - FINISHED_WORK_KEPT),
        login_throttles=purge_stale(session, now=now),
    )
