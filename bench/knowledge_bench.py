"""The knowledge base end to end, on the embedded database with real encryption.

1. Ingestion throughput, pages per second, for PDF and HTML: extraction and chunking alone,
   and through ``do_store_document`` (file store, sealed chunks, audit, commit).
2. Reply overhead excluding the model, at 10k chunks for one agent: ``ready_agent`` (the
   transaction part: cached index, provider checks) plus ``reply`` with a model stand-in
   that returns a cited answer at once, so what is timed is retrieval, pseudonymisation of
   the conversation, the request, restoring and every guardrail. p50/p95 over the questions
   of bench/retrieval_set. Also the first search (index build from the sealed chunks).

    .venv/bin/python bench/knowledge_bench.py [--pages 200] [--chunks 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from document_samples import help_centre_pages, html_bytes, pdf_bytes, prose
from harness import REPO_ROOT, machine_facts, median, print_table, write_result
from hushdesk.agents.assistant.reply import Turn
from hushdesk.agents.config import Actor, do_record_first_version
from hushdesk.agents.knowledge.ingest import PreparedDocument, do_store_document, prepare_file, prepare_text
from hushdesk.agents.knowledge.search import KnowledgeIndexCache
from hushdesk.agents.providers.base import ChatRequest, ProviderKind, Role
from hushdesk.agents.runtime import AssistantServices, LoadedOnce, ReadyAgent, answer_with, ready_agent
from hushdesk.agents.service import access_agent_by_slug, do_create_agent
from hushdesk.audit.models import ActorKind
from hushdesk.crypto.columns import install_encryption
from hushdesk.crypto.files import EncryptedFileStore
from hushdesk.crypto.keyring import Keyring
from hushdesk.crypto.keystore import ContactKeyStore
from hushdesk.crypto.providers import LocalKeyProvider
from hushdesk.infra.db.engine import create_db_engine
from hushdesk.infra.db.migrate import upgrade_to_head
from hushdesk.infra.db.uow import make_sessionmaker, unit_of_work
from hushdesk.privacy.pii import Detector, NameLexicon
from hushdesk.workspaces.models import Region, Workspace
from hushdesk.workspaces.service import do_create_workspace

OPERATOR = Actor(ActorKind.OPERATOR, "os:bench")
QUESTIONS = REPO_ROOT / "bench" / "retrieval_set" / "questions.jsonl"


class CitingModel:
    """Stands in for a model that answers at once: it cites the first passage it was given."""

    @property
    def kind(self) -> ProviderKind:
        return ProviderKind.OPENAI

    def stream_chat(self, request: ChatRequest) -> Iterator[str]:
        first = request.passages[0].text.split(".")[0] if request.passages else "I do not know"
        yield f"{first}. [1]"


def _world(folder: Path) -> tuple[sessionmaker[Session], EncryptedFileStore, ContactKeyStore]:
    (folder / "keys").mkdir(mode=0o700)
    engine = create_db_engine(f"sqlite:///{folder / 'hushdesk.sqlite3'}")
    upgrade_to_head(engine)
    store = ContactKeyStore.open(f"sqlite:///{folder / 'keys' / 'contact-keys.sqlite3'}")
    keyring = Keyring(provider=LocalKeyProvider.from_keys_dir(folder / "keys"), contact_keys=store)
    sessions = make_sessionmaker(engine)
    install_encryption(sessions, keyring)
    with unit_of_work(sessions) as session:
        workspace = do_create_workspace(session, name="Bench", region=Region.EU)
        agent = do_create_agent(session, workspace_id=workspace.id, name="Desk")
        do_record_first_version(session, agent, actor=OPERATOR)
    return sessions, EncryptedFileStore(folder / "uploads"), store


def _store(sessions: sessionmaker[Session], files: EncryptedFileStore, prepared: PreparedDocument) -> None:
    with unit_of_work(sessions) as session:
        workspace_id = session.scalars(select(Workspace.id)).one()
        agent = access_agent_by_slug(session, workspace_id=workspace_id, slug="desk")
        do_store_document(session, agent, prepared, files=files, actor=OPERATOR, max_file_bytes=64 << 20)


def ingestion(pages: int, repeats: int) -> list[list[str]]:
    spec = help_centre_pages(pages)
    samples: dict[str, list[tuple[str, bytes]]] = {
        "pdf": [("guide.pdf", pdf_bytes(spec, title="Guide"))],
        "html": [
            (f"page-{number}.html", html_bytes(heading, [(1, heading, paragraphs)]))
            for number, (heading, paragraphs) in enumerate(spec)
        ],
    }
    rows = []
    for kind, files in samples.items():
        extract_times, stored_times = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as folder:
                sessions, store_files, store = _world(Path(folder))
                started = time.perf_counter()
                prepared = [
                    prepare_file(source=name, filename=name, content=content) for name, content in files
                ]
                extracted = time.perf_counter()
                for document in prepared:
                    _store(sessions, store_files, document)
                finished = time.perf_counter()
                store.dispose()
            extract_times.append(extracted - started)
            stored_times.append(finished - started)
        rows.append(
            [
                kind,
                str(pages),
                f"{pages / median(extract_times):,.0f}",
                f"{pages / median(stored_times):,.0f}",
            ]
        )
    return rows


def _questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]


def overhead(chunks: int) -> tuple[list[list[str]], dict[str, float]]:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as folder:
        sessions, files, store = _world(Path(folder))
        corpus = sorted((REPO_ROOT / "bench" / "retrieval_set" / "docs").glob("*.md"))
        for path in corpus:
            _store(sessions, files, prepare_text(source=path.name, text=path.read_text()))
        made = 0
        number = 0
        while made < chunks:
            number += 1
            text = "\n\n".join(prose(rng, 5) for _ in range(20))
            prepared = prepare_text(source=f"filler-{number}.md", text=f"# Filler {number}\n\n{text}")
            _store(sessions, files, prepared)
            made += len(prepared.chunks)
        detector = Detector(names=NameLexicon.load(REPO_ROOT / ".cache"))
        services = AssistantServices(
            detector=LoadedOnce(lambda: detector), index_cache=KnowledgeIndexCache(), http_client=_no_network
        )
        build_started = time.perf_counter()
        _ready(sessions, services)
        build = time.perf_counter() - build_started
        history = [
            Turn(Role.USER, "Hi, I'm Thandi Nkosi, my email is thandi@example.org"),
            Turn(Role.ASSISTANT, "Hello! How can I help?"),
        ]
        timings = []
        for question in _questions():
            started = time.perf_counter()
            ready = _ready(sessions, services)
            answer_with(ready, CitingModel(), history=history, message=question, services=services)
            timings.append((time.perf_counter() - started) * 1000)
        store.dispose()
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(0.95 * (len(timings) - 1))]
    return [[f"{made:,}", f"{build:.2f} s", f"{p50:.1f}", f"{p95:.1f}"]], {"p50_ms": p50, "p95_ms": p95}


def _ready(sessions: sessionmaker[Session], services: AssistantServices) -> ReadyAgent:
    with unit_of_work(sessions) as session:
        workspace_id = session.scalars(select(Workspace.id)).one()
        return ready_agent(
            session, access_agent_by_slug(session, workspace_id=workspace_id, slug="desk"), services=services
        )


def _no_network() -> httpx.Client:
    raise RuntimeError("the benchmark makes no network call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    print(json.dumps(machine_facts()))
    rows = ingestion(arguments.pages, arguments.repeats)
    print_table(["format", "pages", "extract+chunk pages/s", "end to end pages/s"], rows)
    overhead_rows, figures = overhead(arguments.chunks)
    print_table(["chunks", "first search (index build)", "reply overhead p50 ms", "p95 ms"], overhead_rows)
    write_result("knowledge", {"ingestion": rows, "overhead": overhead_rows, **figures})


if __name__ == "__main__":
    main()
