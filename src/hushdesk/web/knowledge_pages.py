"""An agent's knowledge base: its documents, uploading files, pasting text, importing web
pages in the background, and deleting a document.

Reading is ``agent:read``; every change is ``agent:write``. Both go through
``access_agent_by_id``, so a manager or support person reaches only the agents assigned to
them, and another workspace's agent, document or import is a 404 like a missing one.

Uploaded files are read with a cap (one byte past ``ExtractionLimits.max_bytes`` is enough to
refuse a file) and parsed before anything is written; every refusal (wrong type, damaged, too
large) is reported per file with its public reason, and leaves no row and no stored file.
Parsing runs inside the request's transaction, which the permission check has already begun:
it is CPU work, never a network call. Web pages are fetched by the ``knowledge-import`` job,
never in a request.
"""

from __future__ import annotations

import datetime as dt
import ntpath
import posixpath
import re
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from hushdesk.agents.config import Actor
from hushdesk.agents.knowledge.extraction import DocumentTooLarge, ExtractionLimits
from hushdesk.agents.knowledge.extraction.limits import megabytes
from hushdesk.agents.knowledge.imports import (
    access_import_by_id,
    do_start_import,
    list_imports,
)
from hushdesk.agents.knowledge.ingest import (
    PreparedDocument,
    do_delete_document,
    do_store_document,
    list_documents,
    prepare_file,
    prepare_text,
)
from hushdesk.agents.knowledge.models import ImportStatus, KnowledgeDocument
from hushdesk.agents.knowledge.ranking import LocalEmbedder
from hushdesk.agents.knowledge.web_import import MAX_PAGES_CAP, MAX_URL_LENGTH
from hushdesk.agents.models import Agent
from hushdesk.agents.runtime import AssistantServices
from hushdesk.agents.service import access_agent_by_id
from hushdesk.audit.models import ActorKind
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.identity.permissions import Permission
from hushdesk.identity.sessions import SignedIn
from hushdesk.infra.errors import HushdeskError, ValidationFailed
from hushdesk.infra.jobs.queue import JobQueue
from hushdesk.web.authz import requires
from hushdesk.web.deps import AppSettings, CurrentUser, DbSession, Templates, end_request_transaction
from hushdesk.web.origin import check_csrf

router = APIRouter()
# The one route that takes files: its bodies may be as large as settings.max_upload_body_bytes.
UPLOAD_PATHS = (re.compile(r"/agents/[0-9a-fA-F-]{36}/knowledge/files"),)

# Files one upload may carry; each is parsed in the request, so the batch is kept small.
MAX_FILES_PER_UPLOAD = 20
# Pasted text is bounded by the request body limit long before this; the extraction limits
# then apply to it as to a file.
MAX_PASTED_CHARS = 2_000_000
DEFAULT_SITEMAP_PAGES = 50
# How often the status page of a running import reloads itself, in seconds.
REFRESH_SECONDS = 3
ACCEPTED_FILES = ".pdf,.html,.htm,.md,.markdown,.docx,.txt,.csv"

CsrfField = Annotated[str, Form(max_length=128)]
UploadsField = Annotated[list[UploadFile | str], File(alias="files", default_factory=list)]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What became of one uploaded file or pasted text: ``added``, ``replaced`` or ``refused``."""

    name: str
    result: str
    chunks: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DocumentRow:
    id: uuid.UUID
    source: str
    kind: str
    chunks: int
    pages: int
    size: str
    updated_at: dt.datetime


@dataclass(slots=True)
class KnowledgeForm:
    """What the forms show again when a request is re-rendered."""

    title: str = ""
    text: str = ""
    url: str = ""
    sitemap: bool = False
    max_pages: str = str(DEFAULT_SITEMAP_PAGES)
    outcomes: list[FileOutcome] = field(default_factory=list)


def _embedder(request: Request, agent: Agent) -> LocalEmbedder | None:
    """The process's local embedding model (loaded once) for a hybrid agent, else None."""
    if agent.retrieval_mode != "hybrid":
        return None
    services: AssistantServices = request.app.state.assistant
    return services.index_cache.local_embedder()


def _base(agent_id: uuid.UUID) -> str:
    return f"/agents/{agent_id}/knowledge"


@router.get(
    "/agents/{agent_id}/knowledge",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_READ)],
)
def knowledge(
    request: Request, agent_id: uuid.UUID, db: DbSession, user: CurrentUser, templates: Templates
) -> Response:
    agent = access_agent_by_id(db, user.principal, agent_id)
    return _render(request, db, templates, user, agent, KnowledgeForm())


@router.post(
    "/agents/{agent_id}/knowledge/files",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def upload_files(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    settings: AppSettings,
    uploads: UploadsField,
    csrf_token: CsrfField = "",
) -> Response:
    """Add or replace one document per file (a file with the name of an existing document
    replaces it). Each file's outcome is shown; if every file is refused, the answer carries
    the first refusal's status (413 too large, 415 unsupported type, 422 otherwise)."""
    check_csrf(request, csrf_token)
    agent = access_agent_by_id(db, user.principal, agent_id)
    # A file input left empty arrives as a part without a file name, which is a plain string.
    chosen = [upload for upload in uploads if not isinstance(upload, str) and upload.filename]
    if not chosen or len(chosen) > MAX_FILES_PER_UPLOAD:
        problem = f"Choose between 1 and {MAX_FILES_PER_UPLOAD} files to upload."
        return _render(request, db, templates, user, agent, KnowledgeForm(), problem=problem, status=422)
    limits = ExtractionLimits()
    embedder = _embedder(request, agent)
    files = EncryptedFileStore(settings.uploads_dir)
    # Reading and parsing the files is CPU work on untrusted input: it runs with no transaction
    # open (on SQLite the write lock would wait on it); storing opens a new one.
    end_request_transaction(db)
    parsed: list[tuple[str, PreparedDocument | HushdeskError]] = []
    for upload in chosen:
        name = _file_name(upload.filename or "")
        try:
            content = _read_capped(upload, limits.max_bytes)
            parsed.append(
                (
                    name,
                    prepare_file(
                        source=name,
                        filename=name,
                        content=content,
                        declared_type=upload.content_type,
                        limits=limits,
                        embedder=embedder,
                    ),
                )
            )
        except HushdeskError as exc:  # DocumentRejected, or a name that is no valid source
            parsed.append((name, exc))
    outcomes: list[FileOutcome] = []
    statuses: list[int] = []
    for name, result in parsed:
        if isinstance(result, HushdeskError):
            outcomes.append(FileOutcome(name, "refused", reason=result.public_message))
            statuses.append(result.status)
        else:
            outcomes.append(_store(db, files, agent, user, result, name))
    status = statuses[0] if len(statuses) == len(outcomes) else 200
    form = KnowledgeForm(outcomes=outcomes)
    return _render(request, db, templates, user, agent, form, status=status)


@router.post(
    "/agents/{agent_id}/knowledge/text",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def paste_text(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    settings: AppSettings,
    title: Annotated[str, Form(max_length=2000)] = "",
    text: Annotated[str, Form(max_length=MAX_PASTED_CHARS)] = "",
    csrf_token: CsrfField = "",
) -> Response:
    """Add pasted text as a document named ``title`` (replacing the one with that title)."""
    check_csrf(request, csrf_token)
    agent = access_agent_by_id(db, user.principal, agent_id)
    embedder = _embedder(request, agent)
    end_request_transaction(db)
    try:
        prepared = prepare_text(source=title, text=text, embedder=embedder)
    except HushdeskError as exc:
        form = KnowledgeForm(title=title, text=text)
        return _render(
            request, db, templates, user, agent, form, problem=exc.public_message, status=exc.status
        )
    files = EncryptedFileStore(settings.uploads_dir)
    outcome = _store(db, files, agent, user, prepared, prepared.source)
    return _render(request, db, templates, user, agent, KnowledgeForm(outcomes=[outcome]))


@router.post(
    "/agents/{agent_id}/knowledge/imports",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def start_import(
    request: Request,
    agent_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
    url: Annotated[str, Form(max_length=MAX_URL_LENGTH * 2)] = "",
    import_kind: Annotated[str, Form(max_length=16)] = "page",
    max_pages: Annotated[str, Form(max_length=16)] = str(DEFAULT_SITEMAP_PAGES),
    csrf_token: CsrfField = "",
) -> Response:
    """Queue an import of one page (``import_kind=page``) or of up to ``max_pages`` pages of a
    sitemap (``import_kind=sitemap``), then show its progress."""
    check_csrf(request, csrf_token)
    agent = access_agent_by_id(db, user.principal, agent_id)
    sitemap = import_kind == "sitemap"
    form = KnowledgeForm(url=url, sitemap=sitemap, max_pages=max_pages)
    queue: JobQueue = request.app.state.jobs
    try:
        started = do_start_import(
            db,
            agent,
            url=url,
            sitemap=sitemap,
            max_pages=_page_count(max_pages) if sitemap else 1,
            user_id=user.user.id,
            queue=queue,
        )
    except ValidationFailed as exc:
        return _render(request, db, templates, user, agent, form, problem=exc.public_message, status=422)
    return RedirectResponse(f"{_base(agent.id)}/imports/{started.id}", status_code=303)


@router.get(
    "/agents/{agent_id}/knowledge/imports/{import_id}",
    response_class=HTMLResponse,
    dependencies=[requires(Permission.AGENT_READ)],
)
def import_status(
    request: Request,
    agent_id: uuid.UUID,
    import_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    templates: Templates,
) -> Response:
    """An import's progress; the page reloads itself (the ``Refresh`` header, no script)
    until the import has finished."""
    agent = access_agent_by_id(db, user.principal, agent_id)
    found = access_import_by_id(db, agent, import_id)
    finished = found.status in (ImportStatus.DONE, ImportStatus.FAILED)
    context = {
        "user": user,
        "agent": agent,
        "job": found,
        "finished": finished,
        "processed": found.pages_done + found.pages_failed,
        "refresh_seconds": REFRESH_SECONDS,
    }
    response = templates.TemplateResponse(request, "knowledge_import.html", context)
    if not finished:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@router.post(
    "/agents/{agent_id}/knowledge/documents/{document_id}/delete",
    dependencies=[requires(Permission.AGENT_WRITE)],
)
def delete_document(
    request: Request,
    agent_id: uuid.UUID,
    document_id: uuid.UUID,
    db: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    csrf_token: CsrfField = "",
) -> Response:
    """Delete a document: its rows now, its stored file once the deletion has committed."""
    check_csrf(request, csrf_token)
    agent = access_agent_by_id(db, user.principal, agent_id)
    files = EncryptedFileStore(settings.uploads_dir)
    do_delete_document(db, agent, document_id, files=files, actor=_actor(user))
    return RedirectResponse(f"{_base(agent.id)}?deleted=1", status_code=303)


def _store(
    db: Session,
    files: EncryptedFileStore,
    agent: Agent,
    user: SignedIn,
    prepared: PreparedDocument,
    name: str,
) -> FileOutcome:
    """Store a prepared document in the request's (second) transaction. A refusal here (the
    agent is full, or was deleted meanwhile) fails the whole request, so the batch's other
    files are rolled back too and their stored files removed (``on_outcome``)."""
    stored = do_store_document(
        db, agent, prepared, files=files, actor=_actor(user), max_file_bytes=ExtractionLimits().max_bytes
    )
    return FileOutcome(name, "replaced" if stored.replaced else "added", chunks=len(prepared.chunks))


def _actor(user: SignedIn) -> Actor:
    return Actor(ActorKind.USER, str(user.user.id))


def _file_name(filename: str) -> str:
    """The file's own name: browsers may send a path ("C:\\fakepath\\faq.md", "docs/faq.md")."""
    return ntpath.basename(posixpath.basename(filename)).strip() or "upload"


def _read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    """The file's bytes, reading at most one byte past ``max_bytes``; ``DocumentTooLarge``
    (413) beyond it."""
    content = upload.file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise DocumentTooLarge(
            f"The file is larger than {megabytes(max_bytes)}, the most the knowledge base accepts.",
            limit=max_bytes,
        )
    return content


def _page_count(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise ValidationFailed(f"Give the number of pages to import, from 1 to {MAX_PAGES_CAP}.") from exc


def _size(byte_size: int) -> str:
    if byte_size < 1024:
        return f"{byte_size} B"
    if byte_size < 1024 * 1024:
        return f"{byte_size / 1024:.1f} KB"
    return f"{byte_size / (1024 * 1024):.1f} MB"


def _row(document: KnowledgeDocument) -> DocumentRow:
    return DocumentRow(
        id=document.id,
        source=document.source,
        kind=document.kind,
        chunks=document.chunk_count,
        pages=document.page_count,
        size=_size(document.byte_size),
        updated_at=document.updated_at,
    )


def _render(
    request: Request,
    db: Session,
    templates: Templates,
    user: SignedIn,
    agent: Agent,
    form: KnowledgeForm,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "user": user,
        "agent": agent,
        "documents": [_row(document) for document in list_documents(db, agent)],
        "imports": list_imports(db, agent),
        "may_write": user.principal.can(Permission.AGENT_WRITE),
        "form": form,
        "problem": problem,
        "deleted": request.query_params.get("deleted") == "1" and problem is None,
        "max_files": MAX_FILES_PER_UPLOAD,
        "max_file_size": megabytes(ExtractionLimits().max_bytes),
        "max_pages_cap": MAX_PAGES_CAP,
        "accepted_files": ACCEPTED_FILES,
    }
    return templates.TemplateResponse(request, "knowledge.html", context, status_code=status)
