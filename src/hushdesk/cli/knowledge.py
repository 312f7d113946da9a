"""kb ingest, kb search, kb list, kb delete: an agent's knowledge base from the command line.

``kb ingest`` records each document's source as its path relative to the argument it came
from (a single file: its file name), so ingesting a folder again replaces each document in
place. ``kb search`` reads JSON lines ``{"id": ..., "question": ...}`` and writes one line
``{"id": ..., "ranked": [{"source": ..., "score": ...}]}`` per question, documents best first,
each once. Formats and exit codes: docs/knowledge-cli.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from hushdesk.agents.knowledge.extraction import KIND_BY_EXTENSION, ExtractionLimits
from hushdesk.agents.knowledge.ingest import (
    do_delete_document,
    do_store_document,
    list_documents,
    prepare_file,
)
from hushdesk.agents.knowledge.ranking import LocalEmbedder, local_model_available
from hushdesk.agents.knowledge.search import KnowledgeIndexCache, searcher_for
from hushdesk.cli.agents import AgentOption, WorkspaceOption, agent_by_slugs, operator
from hushdesk.cli.installation import Installation, open_installation
from hushdesk.cli.options import DataDir, KeysDir, fail
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.infra.db.uow import unit_of_work
from hushdesk.infra.errors import HushdeskError

MAX_QUESTION_CHARS = 2000
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode

Paths = Annotated[
    list[Path], typer.Argument(help="Files and folders to ingest.", show_default=False, exists=True)
]


def register(app: typer.Typer) -> None:
    kb = typer.Typer(help="Ingest, search, list and delete an agent's knowledge.", no_args_is_help=True)
    kb.command("ingest")(ingest)
    kb.command("search")(search)
    kb.command("list")(list_sources)
    kb.command("delete")(delete)
    app.add_typer(kb, name="kb")


@dataclass(frozen=True, slots=True)
class _Item:
    path: Path
    source: str


def collect(paths: list[Path]) -> Iterator[_Item]:
    """The files to ingest, in a stable order: a file as given (source: its name), a folder's
    files of a known type, recursively, hidden ones skipped (source: the path relative to the
    folder, with forward slashes)."""
    for given in paths:
        if given.is_file():
            yield _Item(given, given.name)
            continue
        for path in sorted(given.rglob("*")):
            relative = path.relative_to(given)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            if path.suffix.lower() in KIND_BY_EXTENSION:
                yield _Item(path, relative.as_posix())


def ingest(
    paths: Paths,
    workspace: WorkspaceOption,
    agent: AgentOption,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Add or replace documents; one progress line per file on stderr. Exit 1 if any failed."""
    items = list(collect(paths))
    if not items:
        raise fail("no files of a supported type (pdf, html, md, docx, txt, csv) in the given paths")
    failed = 0
    with open_installation(data_dir, keys_dir) as installation:
        embedder = _embedder_for(installation, workspace, agent)
        files = EncryptedFileStore(installation.settings.uploads_dir)
        for number, item in enumerate(items, start=1):
            outcome = _ingest_one(installation, files, embedder, workspace, agent, item)
            failed += outcome.startswith("failed")
            typer.echo(f"[{number}/{len(items)}] {item.source}: {outcome}", err=True)
    typer.echo(f"{len(items) - failed} ingested, {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)


def _embedder_for(installation: Installation, workspace: str, agent: str) -> LocalEmbedder | None:
    with unit_of_work(installation.sessions) as session:
        hybrid = agent_by_slugs(session, workspace, agent).retrieval_mode == "hybrid"
    return LocalEmbedder.load() if hybrid and local_model_available() else None


def _ingest_one(
    installation: Installation,
    files: EncryptedFileStore,
    embedder: LocalEmbedder | None,
    workspace: str,
    agent: str,
    item: _Item,
) -> str:
    limits = ExtractionLimits()
    try:
        if item.path.stat().st_size > limits.max_bytes:
            return f"failed: larger than {limits.max_bytes // (1024 * 1024)} MiB"
        content = item.path.read_bytes()
        # Parsing happens before the transaction opens: a slow or hostile file holds no lock.
        prepared = prepare_file(
            source=item.source, filename=item.path.name, content=content, limits=limits, embedder=embedder
        )
        with unit_of_work(installation.sessions) as session:
            found = agent_by_slugs(session, workspace, agent)
            stored = do_store_document(
                session, found, prepared, files=files, actor=operator(), max_file_bytes=limits.max_bytes
            )
            verb = "replaced" if stored.replaced else "added"
            return f"{verb}, {len(prepared.chunks)} chunks"
    except HushdeskError as exc:  # DocumentRejected among them: the file's own problem
        return f"failed: {exc.public_message}"
    except OSError as exc:
        return f"failed: cannot read the file ({exc.strerror or 'error'})"


def search(
    workspace: WorkspaceOption,
    agent: AgentOption,
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="Documents per question.")] = 10,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Rank the agent's documents for each question read from stdin (JSON lines)."""
    with open_installation(data_dir, keys_dir) as installation:
        embedder = _embedder_for(installation, workspace, agent)
        cache = KnowledgeIndexCache(embedder=lambda: embedder)
        with unit_of_work(installation.sessions) as session:
            searcher = searcher_for(session, agent_by_slugs(session, workspace, agent), cache=cache)
    # The questions are answered from the index in memory, with no transaction open: a long
    # batch does not hold the database (on SQLite, its write lock) while it runs.
    problems = 0
    for number, line in enumerate(sys.stdin.buffer, start=1):
        if not line.strip():
            continue
        parsed = _question(line)
        if isinstance(parsed, str):
            problems += 1
            typer.echo(f"line {number}: {parsed}", err=True)
            continue
        ranked = searcher.sources(parsed[1], k=k)
        _write(sys.stdout, parsed[0], [{"source": r.source, "score": round(r.score, 4)} for r in ranked])
    if problems:
        raise typer.Exit(1)


def _question(line: bytes) -> tuple[Any, str] | str:
    """(id, question) from one input line, or the reason it is refused (never quoting it)."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not a JSON object"
    if not isinstance(record, dict) or "id" not in record:
        return 'expected an object with "id" and "question"'
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        return '"question" must be a non-empty string'
    if isinstance(record["id"], (dict, list)):
        return '"id" must be a string or a number'
    return record["id"], question[:MAX_QUESTION_CHARS]


def _write(out: IO[str], record_id: Any, ranked: list[dict[str, Any]]) -> None:
    out.write(_ENCODE({"id": record_id, "ranked": ranked}) + "\n")
    out.flush()


def list_sources(
    workspace: WorkspaceOption, agent: AgentOption, data_dir: DataDir = None, keys_dir: KeysDir = None
) -> None:
    """Each document's id, kind, chunk count and source, one per line."""
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        for document in list_documents(session, agent_by_slugs(session, workspace, agent)):
            typer.echo(f"{document.id}\t{document.kind}\t{document.chunk_count}\t{document.source}")


def delete(
    sources: Annotated[
        list[str], typer.Argument(help="Sources of the documents to delete.", show_default=False)
    ],
    workspace: WorkspaceOption,
    agent: AgentOption,
    data_dir: DataDir = None,
    keys_dir: KeysDir = None,
) -> None:
    """Delete documents by source (as ``kb list`` shows it), with their chunks and files."""
    with (
        open_installation(data_dir, keys_dir) as installation,
        unit_of_work(installation.sessions) as session,
    ):
        found = agent_by_slugs(session, workspace, agent)
        files = EncryptedFileStore(installation.settings.uploads_dir)
        by_source = {document.source: document.id for document in list_documents(session, found)}
        missing = [source for source in sources if source not in by_source]
        if missing:
            raise fail(f"no document with the source {missing[0]!r}")
        for source in sources:
            do_delete_document(session, found, by_source[source], files=files, actor=operator())
            typer.echo(f"deleted {source}", err=True)
