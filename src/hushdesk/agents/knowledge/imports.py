"""Importing web pages into an agent's knowledge base in the background: one page, or the pages
a sitemap lists.

``do_start_import`` (in the caller's unit of work) checks the address, records a
``KnowledgeImport`` row and enqueues a ``knowledge-import`` work item that is pushed once the
transaction commits. ``run_import`` (the job) fetches outside any transaction and writes in
short transactions of its own: the progress, then each page as it is stored (through
``do_store_document``, as the person who started the import), so a page that fails does not
undo the pages before it, and the status page shows progress while the job runs.

Failures are recorded as public reasons only (an ``ImportFailed`` or ``DocumentRejected``
message), never anything the site sent. A finished import (done or failed) is never run again;
an import left running by a worker that died is run again from the start, and since a page
replaces the document with the same source (its URL), running it again changes nothing that
the first run had stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hushdesk.agents.config import Actor
from hushdesk.agents.knowledge.extraction import ExtractionLimits
from hushdesk.agents.knowledge.ingest import PreparedDocument, do_store_document, prepare_page
from hushdesk.agents.knowledge.models import ImportStatus, KnowledgeImport
from hushdesk.agents.knowledge.ranking import LocalEmbedder, local_model_available
from hushdesk.agents.knowledge.web_import import (
    MAX_PAGES_CAP,
    ImportFailed,
    ImportLimits,
    check_import_url,
    fetch_page,
    sitemap_page_urls,
)
from hushdesk.agents.models import Agent
from hushdesk.audit.models import ActorKind
from hushdesk.audit.service import do_record_event
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.base import utcnow
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import HushdeskError, NotFound, ValidationFailed
from hushdesk.infra.jobs.queue import JobQueue, enqueue_work

log = logging.getLogger(__name__)

KNOWLEDGE_IMPORT = "knowledge-import"
# Imports of one agent that may wait or run at once: enough for a page and a sitemap or two,
# and a bound on how much fetching one person can queue.
MAX_UNFINISHED_IMPORTS = 3
# Failure reasons kept on the row; the count goes on past it.
MAX_RECORDED_FAILURES = 100
_FINISHED = (ImportStatus.DONE, ImportStatus.FAILED)

ClientFactory = Callable[[], httpx.Client]
"""Makes the outbound client (``hushdesk.infra.http.build_http_client``); the job closes it."""
EmbedderFactory = Callable[[Agent], LocalEmbedder | None]
Finishing = Callable[[], AbstractContextManager[Session]]


def embedder_for(agent: Agent) -> LocalEmbedder | None:
    """The local embedding model for a hybrid agent when this installation has it, else None
    (a lexical agent's chunks need no vectors). Loading takes about half a second."""
    if agent.retrieval_mode != "hybrid" or not local_model_available():
        return None
    return LocalEmbedder.load()


def check_max_pages(max_pages: int) -> int:
    """Raises ``ValidationFailed`` unless 1 <= ``max_pages`` <= ``MAX_PAGES_CAP``."""
    if not 1 <= max_pages <= MAX_PAGES_CAP:
        raise ValidationFailed(f"Import between 1 and {MAX_PAGES_CAP} pages of a sitemap.")
    return max_pages


def do_start_import(
    session: Session,
    agent: Agent,
    *,
    url: str,
    sitemap: bool,
    max_pages: int,
    user_id: uuid.UUID,
    queue: JobQueue,
) -> KnowledgeImport:
    """Record an import of ``url`` (one page, or up to ``max_pages`` pages of the sitemap at
    ``url``) into ``agent`` (from an access function), audit it and enqueue its job, which is
    pushed once the transaction commits. Raises ``InvalidImportUrl`` for an address that
    cannot be imported, ``ValidationFailed`` for a page count out of range or when the agent
    already has ``MAX_UNFINISHED_IMPORTS`` imports waiting or running. Flushes; never
    commits. Whether the host may be reached is decided by the job's outbound client."""
    clean_url = check_import_url(url)
    pages = check_max_pages(max_pages) if sitemap else 1
    if _unfinished_imports(session, agent) >= MAX_UNFINISHED_IMPORTS:
        raise ValidationFailed(
            f"This agent already has {MAX_UNFINISHED_IMPORTS} imports waiting or running; "
            "start another when one has finished."
        )
    row = KnowledgeImport(
        workspace_id=agent.workspace_id,
        agent_id=agent.id,
        url=clean_url,
        sitemap=sitemap,
        max_pages=pages,
        # Sealed columns are sealed from what is set on the object: a column default would
        # reach the database as plaintext and be refused.
        failures=[],
        created_by_id=user_id,
    )
    session.add(row)
    session.flush()
    do_record_event(
        session,
        workspace_id=agent.workspace_id,
        actor_kind=ActorKind.USER,
        actor_id=str(user_id),
        action="knowledge.import.started",
        target_kind="knowledge_import",
        target_id=str(row.id),
        data={"agent": str(agent.id), "sitemap": sitemap, "max_pages": pages},
    )
    enqueue_work(
        session,
        queue=queue,
        kind=KNOWLEDGE_IMPORT,
        idempotency_key=str(row.id),
        payload={"import_id": str(row.id)},
        workspace_id=agent.workspace_id,
    )
    return row


def access_import_by_id(session: Session, agent: Agent, import_id: uuid.UUID) -> KnowledgeImport:
    """``agent``'s import ``import_id``; ``NotFound`` for a missing one or another agent's."""
    row = session.scalar(
        select(KnowledgeImport).where(
            KnowledgeImport.id == import_id,
            KnowledgeImport.agent_id == agent.id,
            KnowledgeImport.workspace_id == agent.workspace_id,
        )
    )
    if row is None:
        raise NotFound()
    return row


def list_imports(session: Session, agent: Agent, *, limit: int = 10) -> list[KnowledgeImport]:
    """``agent``'s latest imports, newest first."""
    return list(
        session.scalars(
            select(KnowledgeImport)
            .where(KnowledgeImport.agent_id == agent.id, KnowledgeImport.workspace_id == agent.workspace_id)
            .order_by(KnowledgeImport.created_at.desc(), KnowledgeImport.id.desc())
            .limit(limit)
        )
    )


def _unfinished_imports(session: Session, agent: Agent) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(KnowledgeImport)
        .where(
            KnowledgeImport.agent_id == agent.id,
            KnowledgeImport.workspace_id == agent.workspace_id,
            KnowledgeImport.status.not_in(_FINISHED),
        )
    )
    return count or 0


# ---- the job -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Run:
    """What the job needs of an import, read once in its first transaction."""

    import_id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    url: str
    sitemap: bool
    max_pages: int
    actor: Actor
    embedder: LocalEmbedder | None


class _ImportGone(Exception):
    """The import or its agent was deleted while the job ran: there is nothing left to do."""


def run_import(
    sessions: sessionmaker[Session],
    client_factory: ClientFactory,
    files: EncryptedFileStore,
    import_id: uuid.UUID,
    *,
    embedder: EmbedderFactory = embedder_for,
    between_pages: Callable[[], None] | None = None,
    finishing: Finishing | None = None,
) -> str | None:
    """Run import ``import_id``: fetch its page (or its sitemap's pages) with a client from
    ``client_factory``, outside any transaction, and store each page in a short transaction
    of its own. Returns the final status, or None when there was nothing to do (the import is
    missing, deleted meanwhile, or finished already: it is never run twice).

    ``between_pages`` is called after each page (to renew the job's lease); ``finishing``
    opens the transaction that records the final status (the job's ``completing``, so that
    the work item is marked done with it). An ``ImportFailed`` of the whole import (the
    sitemap cannot be read, the one page cannot be fetched) ends it ``failed`` with its
    reason; one of a sitemap's pages failing is recorded and the import goes on. Anything
    else (a database or key failure, ``TransactionOpenError``) propagates, for the job to be
    retried."""
    run = _begin(sessions, import_id, embedder)
    if run is None:
        return None
    try:
        with client_factory() as client:
            status = _fetch_and_store(sessions, client, files, run, between_pages)
        return _finish(sessions, run, status, finishing)
    except _ImportGone:
        log.info("import deleted while it ran", extra={"import_id": str(import_id)})
        return None


def give_up_import(sessions: sessionmaker[Session], import_id: uuid.UUID) -> None:
    """Mark an unfinished import ``failed`` because its job will not be tried again (its last
    attempt failed unexpectedly), so that its status page stops waiting. Idempotent."""
    with unit_of_work(sessions) as session:
        row = session.get(KnowledgeImport, import_id)
        if row is None or row.status in _FINISHED:
            return
        _record_failure(
            row, "The import stopped because of an error on the server. Try again later.", page_failed=False
        )
        row.status = ImportStatus.FAILED
        row.finished_at = utcnow()


def _begin(sessions: sessionmaker[Session], import_id: uuid.UUID, embedder: EmbedderFactory) -> _Run | None:
    with unit_of_work(sessions) as session:
        row = session.get(KnowledgeImport, import_id)
        if row is None or row.status in _FINISHED:
            return None
        agent = session.scalar(
            select(Agent).where(Agent.id == row.agent_id, Agent.workspace_id == row.workspace_id)
        )
        if agent is None:
            return None
        # A run left behind by a dead worker starts again from nothing: its pages are stored
        # again in place, and the counts would otherwise count them twice.
        row.status = ImportStatus.RUNNING
        row.pages_total = row.pages_done = row.pages_failed = 0
        row.failures = []
        actor = Actor(ActorKind.USER, str(row.created_by_id)) if row.created_by_id else _SYSTEM
        run = _Run(
            import_id=row.id,
            workspace_id=row.workspace_id,
            agent_id=row.agent_id,
            url=row.url,
            sitemap=row.sitemap,
            max_pages=row.max_pages,
            actor=actor,
            embedder=None,
        )
    # The model is loaded once the transaction has ended: it is CPU and file work.
    return dataclasses.replace(run, embedder=embedder(agent))


# The person who started an import may have been removed since; the pages are then stored in
# the system's name.
_SYSTEM = Actor(ActorKind.SYSTEM, "knowledge-import")


def _fetch_and_store(
    sessions: sessionmaker[Session],
    client: httpx.Client,
    files: EncryptedFileStore,
    run: _Run,
    between_pages: Callable[[], None] | None,
) -> str:
    limits = ImportLimits(max_pages=run.max_pages)
    try:
        page_urls = sitemap_page_urls(client, run.url, limits=limits) if run.sitemap else [run.url]
    except ImportFailed as exc:
        _update(sessions, run, failure=exc.public_message, page_failed=False)
        return ImportStatus.FAILED
    _update(sessions, run, total=len(page_urls))
    for page_url in page_urls:
        failure = _import_page(sessions, client, files, run, page_url, limits)
        if failure is not None:
            _update(sessions, run, failure=_failure_line(page_url, failure, sitemap=run.sitemap))
        if between_pages is not None:
            between_pages()
    return ImportStatus.DONE


def _import_page(
    sessions: sessionmaker[Session],
    client: httpx.Client,
    files: EncryptedFileStore,
    run: _Run,
    page_url: str,
    limits: ImportLimits,
) -> str | None:
    """Fetch, prepare and store one page; its public failure reason, or None once stored."""
    try:
        page = fetch_page(client, page_url, limits=limits)
        prepared = prepare_page(page, limits=ExtractionLimits(), embedder=run.embedder)
    except HushdeskError as exc:  # ImportFailed, DocumentRejected: the page's own problem
        return exc.public_message
    try:
        _store(sessions, files, run, prepared)
    except ValidationFailed as exc:  # the agent is full; the transaction rolled back
        return exc.public_message
    return None


def _store(
    sessions: sessionmaker[Session], files: EncryptedFileStore, run: _Run, prepared: PreparedDocument
) -> None:
    with _locked(sessions, run) as (session, agent, row):
        do_store_document(
            session,
            agent,
            prepared,
            files=files,
            actor=run.actor,
            max_file_bytes=ImportLimits().max_page_bytes,
        )
        row.pages_done += 1


def _update(
    sessions: sessionmaker[Session],
    run: _Run,
    *,
    total: int | None = None,
    failure: str | None = None,
    page_failed: bool = True,
) -> None:
    with _locked(sessions, run) as (_session, _agent, row):
        if total is not None:
            row.pages_total = total
        if failure is not None:
            _record_failure(row, failure, page_failed=page_failed)


def _finish(sessions: sessionmaker[Session], run: _Run, status: str, finishing: Finishing | None) -> str:
    opened = finishing() if finishing is not None else unit_of_work(sessions)
    with opened as session:
        row = _row(session, run)
        if status == ImportStatus.DONE and row.pages_done == 0:
            status = ImportStatus.FAILED
        row.status = status
        row.finished_at = utcnow()
    log.info(
        "knowledge import finished",
        extra={"import_id": str(run.import_id), "status": status, "pages_failed": row.pages_failed},
    )
    return status


@contextlib.contextmanager
def _locked(sessions: sessionmaker[Session], run: _Run) -> Iterator[tuple[Session, Agent, KnowledgeImport]]:
    with unit_of_work(sessions) as session:
        agent = session.scalar(
            select(Agent).where(Agent.id == run.agent_id, Agent.workspace_id == run.workspace_id)
        )
        if agent is None:
            raise _ImportGone()
        yield session, agent, _row(session, run)


def _row(session: Session, run: _Run) -> KnowledgeImport:
    row = session.scalar(
        select(KnowledgeImport).where(
            KnowledgeImport.id == run.import_id, KnowledgeImport.workspace_id == run.workspace_id
        )
    )
    if row is None:
        raise _ImportGone()
    return row


def _record_failure(row: KnowledgeImport, reason: str, *, page_failed: bool) -> None:
    if page_failed:
        row.pages_failed += 1
    if len(row.failures) < MAX_RECORDED_FAILURES:
        # A new list: the column is sealed JSON, and only an assignment marks it changed.
        row.failures = [*row.failures, reason]


def _failure_line(page_url: str, reason: str, *, sitemap: bool) -> str:
    return f"{page_url}: {reason}" if sitemap else reason
